"""What the server serves, without HTTP: the model, its scheduler, and speech requests made into streams.

`SpeechService.load()` runs once at start-up (in a thread, so /health answers meanwhile):
the checkpoint, one warm-up synthesis, then the scheduler thread over `slots` rows.
`speech()` turns one API request into a resolved request and a `Stream` of its pieces, and
`audio()` reads that stream back as audio chunks decoded as `synth --stream` decodes them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

from qwentts_cli.errors import QwenTTSError, UsageError
from qwentts_cli.compute import ComputeThread


@dataclass(frozen=True)
class ServeSettings:
    model: str | None
    slots: int = 4
    max_waiting: int = 16
    device: str = "cpu"
    dtype: str = "float32"
    codec_dtype: str = "float32"
    quantize: str | None = None
    threads: int | None = None
    max_input_chars: int = 4096
    normalize: bool = True


@dataclass(frozen=True)
class SpeechFields:
    """The fields of a speech request that reach the model (the API layer has checked their types)."""

    input: str
    voice: str
    instructions: str | None = None
    language: str = "auto"
    seed: int | None = None
    greedy: bool = False
    max_frames: int | None = None
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float | None = None
    subtalker_temperature: float | None = None
    subtalker_top_k: int | None = None
    subtalker_top_p: float | None = None
    normalize: bool | None = None


class VoiceNotFound(QwenTTSError):
    """An unknown voice (HTTP 404)."""


class SpeechService:
    def __init__(self, settings: ServeSettings):
        self.settings = settings
        self.synth = None
        self.scheduler = None
        self.error: str | None = None  # why loading failed
        self.ready = threading.Event()
        self.model_id = "qwen3-tts"
        self.load_s = None
        # Every torch call of the server, on one thread (compute.py): loading, the engine's
        # steps, every request's decodes and voice creation.
        self.compute = ComputeThread()

    # -- start-up ---------------------------------------------------------------------------

    def load(self, on_step=None) -> None:
        """Load, warm up, start the scheduler; `ready` is set when requests can run."""
        import torch

        from qwentts_cli.load.checkpoint import open_checkpoint
        from qwentts_cli.runtime import Synthesizer
        from qwentts_cli.server.scheduler import Scheduler

        s = self.settings

        def load_model() -> None:
            if s.threads:
                torch.set_num_threads(s.threads)  # on the thread that computes (OpenMP's count is per thread)
            checkpoint = open_checkpoint(s.model)
            self.synth = Synthesizer.load(checkpoint, device=s.device, dtype=s.dtype, quantize=s.quantize,
                                          codec_dtype=s.codec_dtype)
            self.model_id = checkpoint_id(checkpoint.path)
            # Every newcomer prefilled at the next step: requests that arrive together start together.
            engine = self.synth.batch_engine(s.slots, prefills_per_step=s.slots)
            self.scheduler = Scheduler(engine, s.max_waiting, on_step, run=self.compute.run)

        try:
            t0 = time.perf_counter()
            self.compute.run(load_model)
            self._warm_up()
            self.load_s = time.perf_counter() - t0
            self.ready.set()
        except QwenTTSError as e:
            from qwentts_cli.cli import option_name

            self.error = e.render(option_name)
        except Exception as e:  # reported on /ready and stderr, not a traceback per request
            self.error = f"{type(e).__name__}: {e}"

    def _warm_up(self) -> None:
        """One short request through the whole path (first calls allocate caches and pick kernels)."""
        cfg = self.synth.config
        voice = None
        if cfg.model_type == "custom_voice":
            voice = cfg.default_speaker or cfg.speakers[0]
        if cfg.model_type == "base":
            return  # no voice to warm up with until one is given
        fields = SpeechFields(input="Hello.", voice=voice or "design", max_frames=2, greedy=True,
                              instructions="A calm voice." if cfg.model_type == "voice_design" else None)
        request, stream = self.speech(fields)
        for _ in self.audio(request, stream):
            pass

    def close(self) -> None:
        if self.scheduler is not None:
            self.scheduler.close()
        self.compute.close()

    # -- voices -----------------------------------------------------------------------------

    def voices(self) -> list[dict]:
        """Built-in speakers (CustomVoice), the design pseudo-voice (VoiceDesign), saved voices (Base)."""
        from qwentts_cli.voices import list_voices

        cfg = self.synth.config
        if cfg.model_type == "custom_voice":
            return [{"name": name, "type": "builtin"} for name in cfg.speakers]
        if cfg.model_type == "voice_design":
            return [{"name": "design", "type": "description",
                     "description": "the voice that `instructions` describes"}]
        return [{"name": path.stem, "type": "saved"} for path in list_voices()]

    def _cloned_voice(self, name: str):
        from qwentts_cli.voices import VoiceError, check_name, find_voice, load_voice

        try:
            return load_voice(find_voice(check_name(name)))
        except VoiceError as e:
            raise VoiceNotFound(str(e)) from None
        except UsageError as e:
            raise VoiceNotFound(f"no voice '{name}': {e}") from None

    # -- speech -----------------------------------------------------------------------------

    def speech(self, fields: SpeechFields):
        """(resolved request, submitted Stream) for one request; raises QwenTTSError (400/404) or QueueFull."""
        from qwentts_cli.request import STREAM_MAX_CHUNK_FRAMES, SynthesisRequest
        from qwentts_cli.server.scheduler import Stream

        synth, cfg = self.synth, self.synth.config
        if len(fields.input) > self.settings.max_input_chars:
            raise UsageError(f"<input> is {len(fields.input)} characters; this server takes at most "
                             f"{self.settings.max_input_chars}")
        speaker = voice = instruct = None
        if cfg.model_type == "custom_voice":
            speaker = fields.voice
            if speaker.lower() not in cfg.talker.speaker_ids:
                raise VoiceNotFound(f"no voice '{fields.voice}' in this model; its voices: {', '.join(cfg.speakers)}")
            instruct = fields.instructions
        elif cfg.model_type == "voice_design":
            if fields.voice != "design":
                raise VoiceNotFound(f"no voice '{fields.voice}': a VoiceDesign model speaks the voice "
                                    "<instructions> describe; use voice \"design\"")
            if not fields.instructions:
                raise UsageError("a VoiceDesign model needs <instructions> describing the voice")
            instruct = fields.instructions
        else:
            voice = self._cloned_voice(fields.voice)
            if fields.instructions:
                raise UsageError("cloned voices take no <instructions> (the official Base model has none)")
        sampling = synth.greedy() if fields.greedy else synth.sampling
        overrides = {k: getattr(fields, k) for k in ("temperature", "top_k", "top_p", "repetition_penalty",
                                                     "subtalker_temperature", "subtalker_top_k", "subtalker_top_p")}
        sampling = replace(sampling, **{k: v for k, v in overrides.items() if v is not None})
        # Audio leaves after the first frame, then in decodes that double up to STREAM_MAX_CHUNK_FRAMES,
        # as `synth --stream` sends it: one frame per decode costs twice the codec time per frame.
        request = synth.resolve(SynthesisRequest(
            speaker=speaker, voice=voice, language=fields.language, instruct=instruct, sampling=sampling,
            seed=fields.seed, max_frames=fields.max_frames, max_frames_per_token=8.0,
            chunk_frames=1, max_chunk_frames=STREAM_MAX_CHUNK_FRAMES))
        pieces = self._pieces(fields, request.language)
        seed = request.seed

        def rows():
            for i, text in enumerate(pieces):
                yield lambda text=text, i=i: synth.piece_row(text, request, None if seed is None else seed + i)

        return request, self.scheduler.submit(Stream(rows()))

    def _pieces(self, fields: SpeechFields, language: str) -> list[str]:
        from qwentts_cli.text.feed import spoken_pieces

        normalize = fields.normalize if fields.normalize is not None else self.settings.normalize
        pieces = [p.text for p in spoken_pieces(fields.input, normalize, language)]
        if not pieces:
            raise UsageError("<input> has nothing to speak (only symbols, punctuation or spaces); give some words")
        return pieces

    def audio(self, request, stream) -> Iterator:
        """The stream's audio chunks (runtime.AudioChunk), decoded as they come; cancels it when closed."""
        try:
            yield from self.synth.stream_pieces(stream.pieces(), request,
                                                run=lambda fn: self.compute.run(fn, urgent=True))
        finally:
            stream.cancel()


def checkpoint_id(path: str) -> str:
    """The model id /v1/models lists: the checkpoint folder's name (random:... for random weights)."""
    import os

    return os.path.basename(os.path.normpath(path)) if path else "qwen3-tts"
