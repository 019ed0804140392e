"""Synthesizer: load a checkpoint once, then text -> code frames -> 24 kHz audio.

The Python API of qwentts:

    synth = Synthesizer.from_pretrained("path/to/Qwen3-TTS-12Hz-0.6B-CustomVoice")
    result = synth.synthesize("Привет, мир!", speaker="ryan", language="russian")
    result.codes   # (frames, 16) int64
    result.audio   # (samples,) float32 at result.sample_rate

Every method takes a `SynthesisRequest` (request.py), or its fields as keywords. A request
is checked against the model once per call; then each piece of text is tokenized, laid out
as a prompt (generate/prompt.py) and run through the frame loop (generate/loop.py), and
the codes are decoded by the speech-tokenizer decoder (model/codec/).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from qwentts_cli.config import FRAME_RATE, SAMPLE_RATE, SamplingConfig, TTSConfig  # noqa: F401 (SAMPLE_RATE: API)
from qwentts_cli.errors import CheckpointError, EmptyText, PieceRanOn, TextTooLong, UnknownChoice, UsageError
from qwentts_cli.generate.batch import BatchEngine, Row
from qwentts_cli.generate.guard import RunOnGuard
from qwentts_cli.generate.loop import FrameGenerator
from qwentts_cli.generate.schedule import Job, OrderedRows
from qwentts_cli.generate.prompt import VoicePrompt, build_prompt, text_token_count
from qwentts_cli.generate.timing import StepTimes
from qwentts_cli.load.checkpoint import Checkpoint
from qwentts_cli.model.codec import CodecDecoder
from qwentts_cli.model.quantize import MODES as QUANTIZE_MODES
from qwentts_cli.model.talker import Talker
from qwentts_cli.request import ResolvedRequest, SynthesisRequest, resolve_request
from qwentts_cli.text.segment import speakable
from qwentts_cli.text.tokenizer import TextTokenizer, load_tokenizer

if TYPE_CHECKING:
    from qwentts_cli.voices import Voice, VoiceFamily

# Without EOS, generation stops at this many frames: a fixed allowance plus a per-token one.
# Speech runs at roughly 2-4 frames (0.16-0.32 s) per text token, so 10 per token is ~3x
# slow speech; a request's max_frames overrides it.
FRAME_CAP_BASE = 60
FRAME_CAP_PER_TOKEN = 10
# A cloned voice's transcript, as the official `_build_ref_text` wraps it.
REF_TEMPLATE = "<|im_start|>assistant\n{text}<|im_end|>\n"
# Positions the prompt takes beyond its text ids (codec control rows: think, language,
# speaker, pad, bos), kept free of frames so a prompt near the context limit still fits.
PROMPT_OVERHEAD = 16

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"<device={device}> was asked for but no CUDA GPU is available; use <device=cpu>")
    if device != "cpu" and not device.startswith("cuda"):
        raise UnknownChoice("device", device, ["cpu", "cuda", "auto"])
    return torch.device(device)


# The codec's: float16 overflows in its convolutions (NaN samples, measured on the fixture).
CODEC_DTYPES = ("float32", "bfloat16")


def resolve_dtype(dtype: str) -> torch.dtype:
    if dtype not in DTYPES:
        raise UnknownChoice("dtype", dtype, list(DTYPES))
    return DTYPES[dtype]


def resolve_codec_dtype(codec_dtype: str) -> torch.dtype:
    if codec_dtype not in CODEC_DTYPES:
        raise UnknownChoice("codec_dtype", codec_dtype, CODEC_DTYPES)
    return DTYPES[codec_dtype]


def check_dtypes(dtype: str, codec_dtype: str) -> None:
    """Both names valid (raises UnknownChoice): for callers that check options before loading anything."""
    resolve_dtype(dtype)
    resolve_codec_dtype(codec_dtype)


def check_quantize(quantize: str | None, device: torch.device) -> None:
    if quantize is None:
        return
    if quantize not in QUANTIZE_MODES:
        raise UnknownChoice("quantize", quantize, QUANTIZE_MODES)
    if device.type != "cpu":
        raise UsageError("<quantize> uses CPU int8 kernels; on a GPU use <dtype=bfloat16> instead")


def chunk_schedule(first: int, largest: int) -> Iterator[int]:
    """Frames per streamed decode: `first` (audio starts early), then doubling up to `largest`."""
    size, largest = first, max(first, largest)
    while True:
        yield size
        size = min(2 * size, largest)


@dataclass
class AudioChunk:
    """Audio of consecutive frames, ready to play, and where in the text it came from."""

    samples: np.ndarray  # (n,) float32 at SAMPLE_RATE
    frames: np.ndarray  # (k, 16) int64: the codes these samples decode
    piece: int  # index of the text piece being spoken
    piece_end: bool = False  # the piece's last chunk (it may hold no samples)


@dataclass
class SynthesisResult:
    codes: np.ndarray  # (frames, 16) int64
    audio: np.ndarray  # (samples,) float32
    sample_rate: int = SAMPLE_RATE

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.sample_rate


def _as_request(request: SynthesisRequest | None, fields: dict) -> SynthesisRequest:
    """A request from a request and/or keyword fields (fields override). Fields over an already
    resolved request make a plain one again, so that the new values are checked too."""
    if request is None:
        return SynthesisRequest(**fields)
    if not fields:
        return request
    if isinstance(request, ResolvedRequest):
        from dataclasses import fields as dataclass_fields

        request = SynthesisRequest(**{f.name: getattr(request, f.name) for f in dataclass_fields(SynthesisRequest)})
    return replace(request, **fields)


class Synthesizer:
    def __init__(
        self,
        model_dir: str,
        config: TTSConfig,
        sampling: SamplingConfig,
        talker: Talker,
        codec: CodecDecoder,
        tokenizer: TextTokenizer,
        device: torch.device,
        dtype: torch.dtype,
        graphs: bool | None = None,
    ):
        self.model_dir = model_dir
        self.config = config
        self.sampling = sampling  # the checkpoint's defaults (generation_config.json)
        self.talker = talker
        self.codec = codec
        self.tokenizer = tokenizer
        self.device = device
        self.dtype = dtype
        self.frame_generator = FrameGenerator(talker, config, graphs)
        self._voice_encoders = None  # (speaker encoder, speech encoder), loaded by the first create_voice
        self._family = None

    # -- voices (Base models) ---------------------------------------------------------------

    @property
    def voice_family(self) -> "VoiceFamily":
        """The family of voices this checkpoint makes and takes (voices.py)."""
        from qwentts_cli.voices import checkpoint_family

        if self.config.model_type != "base":
            raise UsageError(f"only Base models clone voices; this is a {self.config.model_type} model")
        if self._family is None:
            self._family = checkpoint_family(self.model_dir, self.config)
        return self._family

    def create_voice(self, ref_audio, ref_text: str | None = None, x_vector_only: bool = False,
                     times: dict | None = None) -> "Voice":
        """A voice cloned from a reference clip: a path, or (samples, sample rate).

        ICL (the default) needs the clip's transcript and keeps the clip's codes, so generation
        continues the reference; `x_vector_only` keeps the speaker embedding alone. `times`
        gets the seconds spent in each encoder ("speaker_encoder", "speech_encoder").
        """
        import time

        from qwentts_cli.reference import prepare_reference, read_reference
        from qwentts_cli.voices import Voice

        family = self.voice_family
        if not x_vector_only and not (ref_text and ref_text.strip()):
            raise UsageError("cloning in context needs the reference's transcript: give <ref_text>, "
                             "or <x_vector_only> to clone from the speaker embedding alone")
        if isinstance(ref_audio, (str, os.PathLike)):
            samples = read_reference(ref_audio)
        else:
            samples = prepare_reference(*ref_audio)
        speaker_encoder, speech_encoder = self._encoders()
        wav = torch.from_numpy(samples).to(self.device)
        t0 = time.perf_counter()
        with torch.inference_mode():
            xvector = speaker_encoder.embed(wav).float().cpu()
        t1 = time.perf_counter()
        codes = None
        if not x_vector_only:
            with torch.inference_mode():
                codes = speech_encoder.encode(wav).cpu()
        if times is not None:
            times.update(speaker_encoder=t1 - t0, speech_encoder=time.perf_counter() - t1)
        return Voice(xvector, codes, None if x_vector_only else ref_text, family)  # verbatim: the official tokenizes it as is

    def _encoders(self):
        if self._voice_encoders is None:
            from qwentts_cli.load.codec_encoder import load_codec_encoder
            from qwentts_cli.load.speaker_encoder import load_speaker_encoder

            self._voice_encoders = (load_speaker_encoder(self.model_dir, self.config.speaker_encoder, self.device),
                                    load_codec_encoder(os.path.join(self.model_dir, "speech_tokenizer"), self.device))
        return self._voice_encoders

    def _check_voice(self, voice: "Voice") -> None:
        from qwentts_cli.voices import check_family

        check_family(voice, self.voice_family)

    @classmethod
    def from_pretrained(cls, model: str | None = None, device: str = "cpu", dtype: str = "float32",
                        quantize: str | None = None, graphs: bool | None = None,
                        codec_dtype: str = "float32") -> "Synthesizer":
        """Load a checkpoint (directory or Hugging Face repo id; None: the default model).

        `random:0.6b` / `random:1.7b` build the published shapes with random weights (timings only).
        `quantize` ("int8", "int8-weight"; CPU only) makes the per-frame linears int8.
        `graphs`: the frame steps as CUDA graphs (default: on a GPU; see generate/graphs.py).
        `codec_dtype`: the speech decoder's weights. float32 (the default) is the official waveform
        within 1e-4; bfloat16 decodes ~1.7x faster on CPUs with bf16 instructions but drifts
        (docs/benchmark.md, "A bfloat16 codec"). The codes do not depend on it.
        """
        from qwentts_cli.load.checkpoint import open_checkpoint

        return cls.load(open_checkpoint(model), device, dtype, quantize, graphs, codec_dtype)

    @classmethod
    def load(cls, checkpoint: Checkpoint, device: str = "cpu", dtype: str = "float32",
             quantize: str | None = None, graphs: bool | None = None,
             codec_dtype: str = "float32") -> "Synthesizer":
        """Load the weights of a checkpoint already found and parsed (load/checkpoint.open_checkpoint)."""
        dev, dt = resolve_device(device), resolve_dtype(dtype)
        codec_dt = resolve_codec_dtype(codec_dtype)
        check_quantize(quantize, dev)
        config = checkpoint.config
        if checkpoint.random_size is not None:
            from qwentts_cli.load.random import random_model

            talker, codec = random_model(config, dt, dev, quantize, codec_dtype=codec_dt)
            tokenizer = load_tokenizer(None)
        else:
            from qwentts_cli.load.codec import load_codec_decoder
            from qwentts_cli.load.talker import load_talker

            tokenizer = load_tokenizer(checkpoint.path)
            talker = load_talker(checkpoint.path, config, dt, dev, quantize=quantize)
            # float32 unless asked: its output is the audio itself, and only float32 is the official's.
            codec = load_codec_decoder(os.path.join(checkpoint.path, "speech_tokenizer"), dtype=codec_dt, device=dev)
        return cls(checkpoint.path, config, checkpoint.sampling, talker, codec, tokenizer, dev, dt, graphs)

    # -- requests and inputs --------------------------------------------------------------

    def resolve(self, request: SynthesisRequest | None = None, **fields) -> ResolvedRequest:
        """`request` (or its fields) checked against this model, defaults filled in."""
        resolved = resolve_request(self.config, _as_request(request, fields), self.sampling)
        if resolved.voice is not None:
            self._check_voice(resolved.voice)
        return resolved

    def greedy(self, **overrides) -> SamplingConfig:
        """This model's sampling defaults with sampling turned off for the talker and the code predictor."""
        return replace(self.sampling, do_sample=False, subtalker_do_sample=False, **overrides)

    def prompt_ids(self, text: str) -> list[int]:
        """Token ids of `<|im_start|>assistant\\n{text}<|im_end|>\\n<|im_start|>assistant\\n`."""
        return self.tokenizer.chat_prompt_ids(text)

    def instruct_ids(self, instruct: str) -> list[int]:
        """Token ids of an instruction, wrapped as the official package does (a user turn)."""
        return self.tokenizer.encode(f"<|im_start|>user\n{instruct}<|im_end|>\n")

    def frame_cap(self, n_prompt_ids: int) -> int:
        """The default limit on frames for a prompt: see FRAME_CAP_* above."""
        n_text = max(text_token_count(n_prompt_ids), 1)
        room = self.config.talker.stack.max_position_embeddings - n_prompt_ids - PROMPT_OVERHEAD
        return max(1, min(FRAME_CAP_BASE + FRAME_CAP_PER_TOKEN * n_text, room))

    # -- generation -------------------------------------------------------------------------

    def frames(self, text: str, request: SynthesisRequest | None = None, *, times: StepTimes | None = None,
               **fields) -> Iterator[torch.Tensor]:
        """Yield one piece's code frames (16,) as the model makes them. `times` collects a time split."""
        req = self.resolve(request, **fields)
        yield from self._piece_frames(text, req, req.seed, times)

    def piece_row(self, text: str, req: ResolvedRequest, seed: int | None) -> tuple[Row, RunOnGuard | None]:
        """One piece of text as a row for the frame loop or the batched engine, and its run-on guard."""
        if not speakable(text):
            raise EmptyText()
        ids = self.prompt_ids(text)
        context = self.config.talker.stack.max_position_embeddings
        if len(ids) >= context - PROMPT_OVERHEAD:
            raise TextTooLong(len(ids), context)
        max_frames = self.frame_cap(len(ids)) if req.max_frames is None else req.max_frames
        input_ids = torch.tensor([ids], dtype=torch.long, device=self.device)
        instruct = None
        if req.instruct:
            instruct = torch.tensor([self.instruct_ids(req.instruct)], dtype=torch.long, device=self.device)
        generator = None
        if seed is not None:
            generator = torch.Generator(device=self.device)
            generator.manual_seed(seed)
        prompt = build_prompt(self.talker, self.config, input_ids, req.language_id, req.speaker, req.streaming_text,
                              instruct, self._voice_prompt(req.voice))
        guard = None
        if req.max_frames_per_token is not None:
            guard = RunOnGuard(text_token_count(len(ids)), req.max_frames_per_token)
        return Row(prompt, max_frames, req.sampling, generator, req.ignore_eos), guard

    def _piece_frames(self, text: str, req: ResolvedRequest, seed: int | None,
                      times: StepTimes | None, index: int = 0) -> Iterator[torch.Tensor]:
        row, guard = self.piece_row(text, req, seed)
        frames = self.frame_generator.frames(row.prompt, row.max_frames, row.sampling, row.generator, times=times,
                                             ignore_eos=row.ignore_eos)
        if guard is None:
            yield from frames
            return
        for frame in frames:
            reason = guard.check(frame)
            if reason is not None:
                frames.close()
                _ran_on(index, reason)
                return
            yield frame

    def _voice_prompt(self, voice) -> VoicePrompt | None:
        if voice is None:
            return None
        ref_ids = None
        if voice.ref_codes is not None:
            ref_ids = torch.tensor([self.tokenizer.encode(REF_TEMPLATE.format(text=voice.ref_text))], dtype=torch.long,
                                   device=self.device)
        return VoicePrompt(voice.xvector, ref_ids, voice.ref_codes)

    def piece_frames(self, pieces: Iterable[str], request: SynthesisRequest | None = None, *,
                     times: StepTimes | None = None, batch: int = 1, **fields) -> Iterator[tuple[int, torch.Tensor]]:
        """(piece index, frame) for text pieces spoken one after another, up to `max_seconds` of audio in all.

        Piece i is sampled with seed + i, so a one-piece text gives what `frames(text, seed=seed)` gives.
        `batch` > 1 generates up to that many pieces at once (generate/batch.py): the same frames, in
        the same order, sooner.
        """
        req = self.resolve(request, **fields)
        for i, frames in self._pieces_frames(pieces, req, times, batch):
            for frame in frames:
                yield i, frame

    def batch_engine(self, slots: int, times: StepTimes | None = None, prefills_per_step: int = 1) -> BatchEngine:
        """A batched frame engine over this model's talker (generate/batch.py), its steps captured
        as CUDA graphs where the unbatched loop's are (`graphs`, default on a GPU)."""
        if slots < 1:
            raise UsageError(f"<batch> must be at least 1, not {slots}")
        return BatchEngine(self.talker, self.config, slots, times, prefills_per_step,
                           graphs=self.frame_generator.uses_graphs(self.device))

    def ordered_frames(self, utterances: Iterable[tuple[str, ResolvedRequest, int | None]], batch: int,
                       times: StepTimes | None = None,
                       prefills_per_step: int = 1) -> Iterator[tuple[int, Iterator[torch.Tensor]]]:
        """(index, its frames) for (text, resolved request, seed[, piece number]) utterances, in their
        order, generated up to `batch` at a time by one engine (generate/schedule.py): each gets the
        frames it gets alone. A guard that stops one warns as the unbatched loop does (naming its
        piece number, default its index), once its frames are read. Frames left unread when the
        caller moves on are dropped, and their row stops.

        `prefills_per_step` (BatchEngine): 1 keeps the first utterance's first frame one prefill
        away (a text read out as it is made); `batch` fills every free slot at once, which takes
        fewer steps for the same frames (a job of files: docs/benchmark.md, "Newcomers at once")."""

        def jobs() -> Iterator[Job]:
            for i, (text, req, seed, *piece) in enumerate(utterances):
                yield Job(lambda text=text, req=req, seed=seed: self.piece_row(text, req, seed),
                          tag=(i, piece[0] if piece else i))

        def frames_of(job: Job, frames: Iterator[torch.Tensor]) -> Iterator[torch.Tensor]:
            yield from frames
            if job.stopped is not None:
                _ran_on(job.tag[1], job.stopped)

        for job, frames in OrderedRows(self.batch_engine(batch, times, prefills_per_step), jobs()):
            yield job.tag[0], frames_of(job, frames)

    def _batched_pieces(self, pieces: Iterable[str], req: ResolvedRequest, times: StepTimes | None,
                        batch: int, prefills_per_step: int = 1) -> Iterator[tuple[int, Iterator[torch.Tensor]]]:
        """(piece index, its frames) in order, the pieces generated up to `batch` at a time."""
        utterances = ((piece, req, None if req.seed is None else req.seed + i) for i, piece in enumerate(pieces))
        return self.ordered_frames(utterances, batch, times, prefills_per_step)

    def _pieces_frames(self, pieces: Iterable[str], req: ResolvedRequest, times: StepTimes | None, batch: int = 1,
                       prefills_per_step: int = 1) -> Iterator[tuple[int, Iterator[torch.Tensor]]]:
        """(piece index, that piece's frames) one piece after another, up to `max_seconds` in all;
        a piece's frames end where it ends, before the next piece's text is asked for (with
        `batch` > 1, later pieces are read and generated ahead, up to `batch` at a time, and
        `prefills_per_step` newcomers join at a frame boundary: see `ordered_frames`)."""
        if batch < 1:
            raise UsageError(f"<batch> must be at least 1, not {batch}")
        limit = None if req.max_seconds is None else max(1, int(req.max_seconds * FRAME_RATE))
        total = 0

        def capped(frames: Iterator[torch.Tensor]) -> Iterator[torch.Tensor]:
            nonlocal total
            for frame in frames:
                yield frame
                total += 1
                if limit is not None and total >= limit:
                    return

        if batch > 1:
            ordered = self._batched_pieces(pieces, req, times, batch, prefills_per_step)
            try:
                for i, frames in ordered:
                    if limit is not None and total >= limit:
                        return
                    yield i, capped(frames)
            finally:
                ordered.close()  # drops the rows still generating
            return
        for i, piece in enumerate(pieces):
            if limit is not None and total >= limit:
                return
            seed = None if req.seed is None else req.seed + i
            yield i, capped(self._piece_frames(piece, req, seed, times, index=i))

    def warm_up(self, request: SynthesisRequest | None = None, **fields) -> None:
        """One throwaway frame through the request's prompt layout and each first-chunk size through
        a throwaway streaming decoder, so that the first real sentence does not pay for first calls
        (oneDNN primitives built per shape, caches touched for the first time): about 100 ms
        each for the talker and the codec, which a live stream waiting for text need not pay
        when the text comes. Changes no later output: every utterance starts from a fresh prefill,
        its own generator and a fresh decoder state."""
        req = self.resolve(request, **fields)
        warm = replace(req, max_frames=1, max_seconds=None, seed=0, max_frames_per_token=None)
        for _ in self.stream("Warm up.", warm):
            pass
        decoder, sizes = self.codec.stream(), chunk_schedule(req.chunk_frames, req.largest_chunk)
        while True:
            size = next(sizes)
            decoder.push(torch.zeros(size, self.codec.config.num_quantizers, dtype=torch.long, device=self.device))
            if size >= req.largest_chunk:
                break

    def stream(self, pieces: str | Iterable[str], request: SynthesisRequest | None = None, *,
               times: StepTimes | None = None, batch: int = 1, **fields) -> Iterator[AudioChunk]:
        """Audio chunks as frames are generated, across all pieces.

        The first chunk is `chunk_frames` frames, so audio starts as soon as possible; later
        chunks double in size up to `max_chunk_frames`, because the streaming decoder costs
        about twice as much per frame one frame at a time as eight at a time (see
        docs/benchmark.md). The codec's streaming state carries over from piece to piece (no
        reset), so the waveform is continuous at sentence boundaries, and the concatenated
        chunks equal a one-shot decode of all the codes. `times` collects the generation split
        and the decode time.
        """
        req = self.resolve(request, **fields)
        yield from self.stream_pieces(self._pieces_frames(_as_pieces(pieces), req, times, batch), req, times)

    def stream_pieces(self, pieces_frames: Iterable[tuple[int, Iterable[torch.Tensor]]], req: ResolvedRequest,
                      times: StepTimes | None = None, run=None) -> Iterator[AudioChunk]:
        """Audio chunks of (piece index, its frames) made elsewhere (`ordered_frames`, the server's
        scheduler), decoded as `stream` decodes them. `run(fn)`: where the decoder's torch work
        runs (the server's compute thread, compute.py); by default here."""
        run = run if run is not None else (lambda fn: fn())
        decoder = run(self.codec.stream)
        if req.voice is not None and req.voice.ref_codes is not None:
            # The reference's codes first, their audio dropped: the decoder's context is then what
            # the official one-shot decode of reference + generated codes sees.
            run(lambda: decoder.prime(req.voice.ref_codes.to(self.device)))
        for piece, frames in pieces_frames:
            # Each piece starts its chunk schedule again (its first audio leaves after one frame)
            # and its last chunk leaves when it ends, before the next text is waited for; a chunk
            # holds one piece's frames. The decoder's state carries on, so the audio is unchanged.
            sizes = chunk_schedule(req.chunk_frames, req.largest_chunk)
            size = next(sizes)
            pending: list[torch.Tensor] = []
            for frame in frames:
                pending.append(frame)
                if len(pending) >= size:
                    yield self._decode_chunk(decoder, pending, piece, times, run=run)
                    pending = []
                    size = next(sizes)
            if pending:
                yield self._decode_chunk(decoder, pending, piece, times, piece_end=True, run=run)
            else:
                yield AudioChunk(np.zeros(0, dtype=np.float32), np.zeros((0, 16), dtype=np.int64), piece, piece_end=True)
        run(decoder.flush)

    def _decode_chunk(self, decoder, frames: list[torch.Tensor], piece: int, times: StepTimes | None,
                      piece_end: bool = False, run=None) -> AudioChunk:
        codes = torch.stack(frames)  # (k, 16)
        t = times.clock(self.device) if times else 0.0
        samples = decoder.push(codes) if run is None else run(lambda: decoder.push(codes))
        if times:
            times.codec += times.clock(self.device) - t
        return AudioChunk(_finite(samples.float().cpu().numpy().reshape(-1)), codes.cpu().numpy(), piece, piece_end)

    def synthesize(self, pieces: str | Iterable[str], request: SynthesisRequest | None = None, *,
                   on_frame: Callable[[int], None] | None = None, times: StepTimes | None = None,
                   batch: int = 1, **fields) -> SynthesisResult:
        """Whole-utterance synthesis: all frames of all pieces, then one decode (as the official package does).

        `on_frame(piece)` is called after each frame (progress); `times` collects the time split;
        `batch` > 1 generates that many pieces at once (the same codes, sooner).
        """
        req = self.resolve(request, **fields)
        # Nothing is heard before every frame is made: newcomers join all at once (fewer steps).
        frames = self._pieces_frames(_as_pieces(pieces), req, times, batch, prefills_per_step=batch)
        return self.decode_pieces(frames, req, on_frame, times)

    def synthesize_codes(self, pieces: str | Iterable[str], request: SynthesisRequest | None = None, *,
                         on_frame: Callable[[int], None] | None = None, times: StepTimes | None = None,
                         batch: int = 1, **fields) -> np.ndarray:
        """`synthesize`'s codes (F, 16) alone, int16; `audio_blocks` decodes them a segment at a time."""
        req = self.resolve(request, **fields)
        return self.collect_codes(self._pieces_frames(_as_pieces(pieces), req, times, batch, prefills_per_step=batch),
                                  on_frame)

    def decode_pieces(self, pieces_frames: Iterable[tuple[int, Iterable[torch.Tensor]]], req: ResolvedRequest,
                      on_frame: Callable[[int], None] | None = None, times: StepTimes | None = None) -> SynthesisResult:
        """(piece index, its frames) of one request, as `ordered_frames` gives them -> one decode
        of all the frames (the cloned voice's reference cut as the official cuts it)."""
        codes = self.collect_codes(pieces_frames, on_frame)
        blocks = list(self.audio_blocks(codes, req, times))
        audio = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
        return SynthesisResult(codes.astype(np.int64), audio)

    def collect_codes(self, pieces_frames: Iterable[tuple[int, Iterable[torch.Tensor]]],
                      on_frame: Callable[[int], None] | None = None) -> np.ndarray:
        """All the frames of (piece index, its frames) as codes (F, 16), int16: a frame costs 32
        bytes, so the codes of a book stay small while its audio would not. `on_frame(piece)` after
        each frame. One host read per piece (not per frame)."""
        pieces = []
        for piece, piece_frames in pieces_frames:
            frames = []
            for frame in piece_frames:
                frames.append(frame)
                if on_frame is not None:
                    on_frame(piece)
            if frames:
                pieces.append(torch.stack(frames).to(torch.int16).cpu().numpy())
        return np.concatenate(pieces) if pieces else np.zeros((0, 16), dtype=np.int16)

    def audio_samples(self, frames: int, req: ResolvedRequest) -> int:
        """How many samples `audio_blocks` makes of `frames` generated frames (the official cut
        of a cloned voice's reference can leave one more than frames * 1920)."""
        ref = req.voice.ref_codes if req.voice is not None else None
        if ref is None or not frames:
            return frames * self.codec.frame_samples
        R, G = ref.shape[0], frames
        return (R + G) * self.codec.frame_samples - _reference_cut(R, G, self.codec.frame_samples)

    def audio_blocks(self, codes: np.ndarray, req: ResolvedRequest, times: StepTimes | None = None) -> Iterator[np.ndarray]:
        """The audio of generated codes (F, 16), as one official decode makes it, one codec segment
        (24 s) at a time, float32: concatenated, the blocks are that decode bit for bit. A cloned
        voice's reference codes are decoded in front, as the official does, and its share of the
        samples cut from the front in the official float arithmetic."""
        if not len(codes):
            return
        ref = req.voice.ref_codes if req.voice is not None else None
        skip = 0
        if ref is not None:
            skip = _reference_cut(ref.shape[0], len(codes), self.codec.frame_samples)
            codes = np.concatenate((ref.cpu().numpy().astype(codes.dtype), codes))
        segments = self.codec.segments(torch.from_numpy(codes).to(self.device))
        while True:
            t = times.clock(self.device) if times else 0.0
            wav = next(segments, None)
            if wav is not None:
                wav = wav.float().cpu().numpy()
            if times:
                times.codec += times.clock(self.device) - t
            if wav is None:
                return
            if skip >= len(wav):
                skip -= len(wav)
                continue
            yield _finite(wav[skip:])
            skip = 0


def _reference_cut(R: int, G: int, hop: int) -> int:
    """The samples the official decode cuts from the front of reference (R frames) + generated (G)
    audio: R * hop, in its float arithmetic, which sometimes makes it one less."""
    return int(R / (R + G) * ((R + G) * hop))


def _ran_on(index: int, reason: str) -> None:
    warnings.warn(PieceRanOn(index, reason), stacklevel=3)


def _finite(samples: np.ndarray) -> np.ndarray:
    """Samples, refused when the codec made NaN (NaN weights in speech_tokenizer/): no file would hold them."""
    if not np.isfinite(samples).all():
        raise CheckpointError("the speech decoder computed NaN samples: speech_tokenizer/model.safetensors holds "
                              "damaged (NaN or inf) weights; re-download the checkpoint")
    return samples


def _as_pieces(pieces: str | Iterable[str]) -> Iterable[str]:
    return [pieces] if isinstance(pieces, str) else pieces

