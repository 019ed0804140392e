"""Synthesizer: load a checkpoint once, then text -> code frames -> 24 kHz audio.

The Python API of qwentts:

    synth = Synthesizer.from_pretrained("path/to/Qwen3-TTS-12Hz-0.6B-CustomVoice")
    result = synth.synthesize("Привет, мир!", speaker="ryan", language="russian")
    result.codes   # (frames, 16) int64
    result.audio   # (samples,) float32 at result.sample_rate
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch

from qwentts_cli.checkpoint import resolve_model_dir
from qwentts_cli.config import SamplingConfig, TTSConfig
from qwentts_cli.errors import UsageError
from qwentts_cli.generate import FrameGenerator, StepTimes, build_prompt
from qwentts_cli.model.codec import CodecDecoder, load_codec_decoder
from qwentts_cli.model.quantize import MODES as QUANTIZE_MODES, quantize_talker
from qwentts_cli.model.talker import Talker, load_talker
from qwentts_cli.text.tokenizer import load_tokenizer

SAMPLE_RATE = 24000
FRAME_RATE = 12.5
# Without EOS, generation stops at this many frames: a fixed allowance plus a per-token one.
# Speech runs at roughly 2-4 frames (0.16-0.32 s) per text token, so 10 per token is ~3x
# slow speech; --max-frames overrides it.
FRAME_CAP_BASE = 60
FRAME_CAP_PER_TOKEN = 10

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise UsageError(f"unknown device '{device}'; use cpu, cuda or auto")
    return torch.device(device)


def resolve_dtype(dtype: str) -> torch.dtype:
    if dtype not in DTYPES:
        raise UsageError(f"unknown dtype '{dtype}'; use one of: {', '.join(DTYPES)}")
    return DTYPES[dtype]


# Streamed decodes grow to this many frames: per frame, the streaming decoder costs ~57 ms
# one frame at a time, ~32 ms four at a time and ~25 ms eight at a time, about a one-shot
# decode (real 0.6B codec shape, 2-core Xeon, float32; docs/benchmark.md).
STREAM_MAX_CHUNK_FRAMES = 8


def chunk_schedule(first: int, largest: int) -> Iterator[int]:
    """Frames per streamed decode: `first` (audio starts early), then doubling up to `largest`."""
    size, largest = first, max(first, largest)
    while True:
        yield size
        size = min(2 * size, largest)


def check_quantize(quantize: str | None, device: torch.device) -> None:
    if quantize is None:
        return
    if quantize not in QUANTIZE_MODES:
        raise UsageError(f"unknown --quantize {quantize!r}; use one of: {', '.join(QUANTIZE_MODES)}")
    if device.type != "cpu":
        raise UsageError("--quantize uses CPU int8 kernels; on a GPU use --dtype bfloat16 instead")


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


class Synthesizer:
    def __init__(
        self,
        model_dir: str,
        config: TTSConfig,
        sampling: SamplingConfig,
        talker: Talker,
        codec: CodecDecoder,
        tokenizer,
        device: torch.device,
        dtype: torch.dtype,
        graphs: bool | None = None,
    ):
        self.model_dir = model_dir
        self.config = config
        self.sampling = sampling
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
        `graphs`: the frame loop as CUDA graphs (default: on a GPU; see frame_graphs.py).
        """
        if model and model.startswith("random:"):
            return cls.random(model.split(":", 1)[1], device, dtype, quantize=quantize, graphs=graphs)
        model_dir = resolve_model_dir(model)
        config = TTSConfig.from_dir(model_dir)
        dev, dt = resolve_device(device), resolve_dtype(dtype)
        check_quantize(quantize, dev)
        tokenizer = load_tokenizer(model_dir)
        talker = load_talker(model_dir, config, dt, dev, quantize=quantize)
        # The codec stays float32: it is a small share of the time and its output is the audio itself.
        codec = load_codec_decoder(os.path.join(model_dir, "speech_tokenizer"), dtype=torch.float32, device=dev)
        return cls(model_dir, config, SamplingConfig.from_generation_config(model_dir), talker, codec, tokenizer, dev, dt,
                   graphs)

    @classmethod
    def random(cls, size: str, device: str = "cpu", dtype: str = "float32", seed: int = 0,
               quantize: str | None = None, graphs: bool | None = None) -> "Synthesizer":
        """The published architecture of `size` (0.6b, 1.7b) with random weights, built in memory."""
        from qwentts_cli.model.presets import preset_config, random_codec, random_talker

        config = preset_config(size)
        dev, dt = resolve_device(device), resolve_dtype(dtype)
        check_quantize(quantize, dev)
        talker = random_talker(config, dt, dev, seed)
        talker.fuse_projections()
        if quantize:
            quantize_talker(talker, quantize)
        codec = random_codec(torch.float32, dev, seed + 1)
        return cls(f"random:{size}", config, SamplingConfig(), talker, codec, load_tokenizer(None), dev, dt, graphs)

    # -- inputs ---------------------------------------------------------------------------

    def prompt_ids(self, text: str) -> list[int]:
        """Token ids of `<|im_start|>assistant\\n{text}<|im_end|>\\n<|im_start|>assistant\\n`."""
        return self.tokenizer.chat_prompt_ids(text)

    def instruct_ids(self, instruct: str) -> list[int]:
        """Token ids of an instruction, wrapped as the official package does (a user turn)."""
        return self.tokenizer.encode(f"<|im_start|>user\n{instruct}<|im_end|>\n")

    def frame_cap(self, n_prompt_ids: int) -> int:
        """The default limit on frames for a prompt: see FRAME_CAP_* above."""
        n_text = max(n_prompt_ids - 8, 1)
        room = self.config.talker.stack.max_position_embeddings - n_prompt_ids - 16
        return max(1, min(FRAME_CAP_BASE + FRAME_CAP_PER_TOKEN * n_text, room))

    # -- generation -------------------------------------------------------------------------

    def frames(
        self,
        text: str,
        speaker: str | None = None,
        language: str = "auto",
        sampling: SamplingConfig | None = None,
        max_frames: int | None = None,
        streaming_text: bool = False,
        instruct: str | None = None,
        seed: int | None = None,
        times: StepTimes | None = None,
        ignore_eos: bool = False,
    ) -> Iterator[torch.Tensor]:
        """Yield code frames (16,) as the model makes them.

        `times` collects a talker / code predictor time split; `ignore_eos` runs exactly
        `max_frames` frames (benchmarks).
        """
        if not text or not text.strip():
            raise UsageError("the text is empty; give some text to speak")
        speaker = self.config.validate_request(speaker, language, instruct)
        ids = self.prompt_ids(text)
        cap = self.frame_cap(len(ids))
        if cap < 1 or len(ids) >= self.config.talker.stack.max_position_embeddings - 16:
            raise UsageError(
                f"the text is too long for one pass ({len(ids)} tokens, the model's context is "
                f"{self.config.talker.stack.max_position_embeddings}); split it into shorter pieces"
            )
        max_frames = cap if max_frames is None else max_frames
        if max_frames < 1:
            raise UsageError("--max-frames must be at least 1")
        input_ids = torch.tensor([ids], dtype=torch.long, device=self.device)
        instruct_tensor = None
        # The official 0.6B CustomVoice ignores instructions; 1.7B CustomVoice and VoiceDesign use them.
        if instruct and not (self.config.model_type == "custom_voice" and self.config.model_size == "0b6"):
            instruct_tensor = torch.tensor([self.instruct_ids(instruct)], dtype=torch.long, device=self.device)
        generator = None
        if seed is not None:
            generator = torch.Generator(device=self.device)
            generator.manual_seed(seed)
        prompt = build_prompt(self.talker, self.config, input_ids, language, speaker, streaming_text, instruct_tensor)
        yield from self.frame_generator.frames(
            prompt, max_frames, sampling or self.sampling, generator, times=times, ignore_eos=ignore_eos
        )

    def piece_frames(
        self,
        pieces: list[str],
        max_seconds: float | None = None,
        seed: int | None = None,
        **kwargs,
    ) -> Iterator[tuple[int, torch.Tensor]]:
        """(piece index, frame) for text pieces spoken one after another, up to `max_seconds` of audio in all.

        Piece i is sampled with seed + i, so a one-piece text gives what `frames(text, seed=seed)` gives.
        """
        limit = None if max_seconds is None else max(1, int(max_seconds * FRAME_RATE))
        total = 0
        for i, piece in enumerate(pieces):
            for frame in self.frames(piece, seed=None if seed is None else seed + i, **kwargs):
                yield i, frame
                total += 1
                if limit is not None and total >= limit:
                    return

    def stream(self, pieces: list[str], chunk_frames: int = 1, max_chunk_frames: int | None = None,
               times: StepTimes | None = None, **kwargs) -> Iterator[AudioChunk]:
        """Audio chunks as frames are generated, across all pieces.

        The first chunk is `chunk_frames` frames, so audio starts as soon as possible; later
        chunks double in size up to `max_chunk_frames` (default: no growth), because the
        streaming decoder costs about twice as much per frame one frame at a time as eight
        at a time (see docs/benchmark.md). The codec's streaming state carries over from piece
        to piece (no reset), so the waveform is continuous at sentence boundaries, and the
        concatenated chunks equal a one-shot decode of all the codes. `times` collects the
        generation split and the decode time.
        """
        decoder = self.codec.stream()
        sizes = chunk_schedule(chunk_frames, max_chunk_frames or chunk_frames)
        size = next(sizes)
        pending: list[torch.Tensor] = []
        piece = 0
        for piece, frame in self.piece_frames(pieces, times=times, **kwargs):
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
        return AudioChunk(samples.float().cpu().numpy().reshape(-1), codes.cpu().numpy(), piece)

    def synthesize(self, text: str, **kwargs) -> SynthesisResult:
        """Whole-utterance synthesis: all frames, then one decode (as the official package does)."""
        frames = list(self.frames(text, **kwargs))
        if not frames:
            return SynthesisResult(np.zeros((0, 16), dtype=np.int64), np.zeros(0, dtype=np.float32))
        codes = torch.stack(frames)  # (F, 16)
        audio = self.codec.decode(codes)
        return SynthesisResult(codes.cpu().numpy(), audio.float().cpu().numpy().reshape(-1))

    def greedy(self, **overrides) -> SamplingConfig:
        """These sampling defaults with sampling turned off for the talker and the code predictor."""
        return replace(self.sampling, do_sample=False, subtalker_do_sample=False, **overrides)
