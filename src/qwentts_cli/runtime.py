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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from qwentts_cli.config import SamplingConfig, TTSConfig
from qwentts_cli.errors import CheckpointError, EmptyText, TextTooLong, UnknownChoice, UsageError
from qwentts_cli.generate.loop import FrameGenerator
from qwentts_cli.generate.prompt import build_prompt, text_token_count
from qwentts_cli.generate.timing import StepTimes
from qwentts_cli.load.checkpoint import Checkpoint
from qwentts_cli.model.codec import CodecDecoder
from qwentts_cli.model.quantize import MODES as QUANTIZE_MODES
from qwentts_cli.model.talker import Talker
from qwentts_cli.request import ResolvedRequest, SynthesisRequest, resolve_request
from qwentts_cli.text.segment import speakable
from qwentts_cli.text.tokenizer import TextTokenizer, load_tokenizer

SAMPLE_RATE = 24000
FRAME_RATE = 12.5
# Without EOS, generation stops at this many frames: a fixed allowance plus a per-token one.
# Speech runs at roughly 2-4 frames (0.16-0.32 s) per text token, so 10 per token is ~3x
# slow speech; a request's max_frames overrides it.
FRAME_CAP_BASE = 60
FRAME_CAP_PER_TOKEN = 10
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


def resolve_dtype(dtype: str) -> torch.dtype:
    if dtype not in DTYPES:
        raise UnknownChoice("dtype", dtype, list(DTYPES))
    return DTYPES[dtype]


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


@dataclass
class SynthesisResult:
    codes: np.ndarray  # (frames, 16) int64
    audio: np.ndarray  # (samples,) float32
    sample_rate: int = SAMPLE_RATE

    @property
    def seconds(self) -> float:
        return len(self.audio) / self.sample_rate


def _as_request(request: SynthesisRequest | None, fields: dict) -> SynthesisRequest:
    """A request from a request and/or keyword fields (fields override)."""
    if request is None:
        return SynthesisRequest(**fields)
    return replace(request, **fields) if fields else request


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

    @classmethod
    def from_pretrained(cls, model: str | None = None, device: str = "cpu", dtype: str = "float32",
                        quantize: str | None = None, graphs: bool | None = None) -> "Synthesizer":
        """Load a checkpoint (directory or Hugging Face repo id; None: the default model).

        `random:0.6b` / `random:1.7b` build the published shapes with random weights (timings only).
        `quantize` ("int8", "int8-weight"; CPU only) makes the per-frame linears int8.
        `graphs`: the frame steps as CUDA graphs (default: on a GPU; see generate/graphs.py).
        """
        from qwentts_cli.load.checkpoint import open_checkpoint

        return cls.load(open_checkpoint(model), device, dtype, quantize, graphs)

    @classmethod
    def load(cls, checkpoint: Checkpoint, device: str = "cpu", dtype: str = "float32",
             quantize: str | None = None, graphs: bool | None = None) -> "Synthesizer":
        """Load the weights of a checkpoint already found and parsed (load/checkpoint.open_checkpoint)."""
        dev, dt = resolve_device(device), resolve_dtype(dtype)
        check_quantize(quantize, dev)
        config = checkpoint.config
        if checkpoint.random_size is not None:
            from qwentts_cli.load.random import random_model

            talker, codec = random_model(config, dt, dev, quantize)
            tokenizer = load_tokenizer(None)
        else:
            from qwentts_cli.load.codec import load_codec_decoder
            from qwentts_cli.load.talker import load_talker

            tokenizer = load_tokenizer(checkpoint.path)
            talker = load_talker(checkpoint.path, config, dt, dev, quantize=quantize)
            # The codec stays float32: it is a small share of the time and its output is the audio itself.
            codec = load_codec_decoder(os.path.join(checkpoint.path, "speech_tokenizer"), dtype=torch.float32,
                                       device=dev)
        return cls(checkpoint.path, config, checkpoint.sampling, talker, codec, tokenizer, dev, dt, graphs)

    # -- requests and inputs --------------------------------------------------------------

    def resolve(self, request: SynthesisRequest | None = None, **fields) -> ResolvedRequest:
        """`request` (or its fields) checked against this model, defaults filled in."""
        return resolve_request(self.config, _as_request(request, fields), self.sampling)

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

    def _piece_frames(self, text: str, req: ResolvedRequest, seed: int | None,
                      times: StepTimes | None) -> Iterator[torch.Tensor]:
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
                              instruct)
        yield from self.frame_generator.frames(prompt, max_frames, req.sampling, generator, times=times,
                                               ignore_eos=req.ignore_eos)

    def piece_frames(self, pieces: Sequence[str], request: SynthesisRequest | None = None, *,
                     times: StepTimes | None = None, **fields) -> Iterator[tuple[int, torch.Tensor]]:
        """(piece index, frame) for text pieces spoken one after another, up to `max_seconds` of audio in all.

        Piece i is sampled with seed + i, so a one-piece text gives what `frames(text, seed=seed)` gives.
        """
        req = self.resolve(request, **fields)
        limit = None if req.max_seconds is None else max(1, int(req.max_seconds * FRAME_RATE))
        total = 0
        for i, piece in enumerate(pieces):
            seed = None if req.seed is None else req.seed + i
            for frame in self._piece_frames(piece, req, seed, times):
                yield i, frame
                total += 1
                if limit is not None and total >= limit:
                    return

    def stream(self, pieces: str | Sequence[str], request: SynthesisRequest | None = None, *,
               times: StepTimes | None = None, **fields) -> Iterator[AudioChunk]:
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
        decoder = self.codec.stream()
        sizes = chunk_schedule(req.chunk_frames, req.largest_chunk)
        size = next(sizes)
        pending: list[torch.Tensor] = []
        piece = 0
        for piece, frame in self.piece_frames(_as_pieces(pieces), req, times=times):
            pending.append(frame)
            if len(pending) >= size:
                yield self._decode_chunk(decoder, pending, piece, times)
                pending = []
                size = next(sizes)
        if pending:
            yield self._decode_chunk(decoder, pending, piece, times)
        decoder.flush()

    def _decode_chunk(self, decoder, frames: list[torch.Tensor], piece: int, times: StepTimes | None) -> AudioChunk:
        codes = torch.stack(frames)  # (k, 16)
        t = times.clock(self.device) if times else 0.0
        samples = decoder.push(codes)
        if times:
            times.codec += times.clock(self.device) - t
        return AudioChunk(_finite(samples.float().cpu().numpy().reshape(-1)), codes.cpu().numpy(), piece)

    def synthesize(self, pieces: str | Sequence[str], request: SynthesisRequest | None = None, *,
                   on_frame: Callable[[int], None] | None = None, times: StepTimes | None = None,
                   **fields) -> SynthesisResult:
        """Whole-utterance synthesis: all frames of all pieces, then one decode (as the official package does).

        `on_frame(piece)` is called after each frame (progress); `times` collects the time split.
        """
        frames = []
        for piece, frame in self.piece_frames(_as_pieces(pieces), request, times=times, **fields):
            frames.append(frame)
            if on_frame is not None:
                on_frame(piece)
        if not frames:
            return SynthesisResult(np.zeros((0, 16), dtype=np.int64), np.zeros(0, dtype=np.float32))
        codes = torch.stack(frames)  # (F, 16)
        t = times.clock(self.device) if times else 0.0
        audio = self.codec.decode(codes)
        if times:
            times.codec += times.clock(self.device) - t
        return SynthesisResult(codes.cpu().numpy(), _finite(audio.float().cpu().numpy().reshape(-1)))


def _finite(samples: np.ndarray) -> np.ndarray:
    """Samples, refused when the codec made NaN (NaN weights in speech_tokenizer/): no file would hold them."""
    if not np.isfinite(samples).all():
        raise CheckpointError("the speech decoder computed NaN samples: speech_tokenizer/model.safetensors holds "
                              "damaged (NaN or inf) weights; re-download the checkpoint")
    return samples


def _as_pieces(pieces: str | Sequence[str]) -> Sequence[str]:
    return [pieces] if isinstance(pieces, str) else pieces

