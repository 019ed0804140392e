"""What a user asks for, as one frozen value, and its check against one model (no torch).

`SynthesisRequest` carries the voice, language, sampling, seed, caps and chunking from the
CLI (or a Python caller) into the library. `resolve_request` checks it against a checkpoint's
config once, before any weights are read, and returns a `ResolvedRequest`: the same fields
with the defaults filled in (speaker, sampling) and the codec language id looked up. The
library resolves a plain request once per call, never once per sentence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from qwentts_cli.config import SamplingConfig, TTSConfig
from qwentts_cli.errors import UnknownChoice, UsageError

if TYPE_CHECKING:  # voices.py imports torch; a request must not
    from qwentts_cli.voices import Voice

# Streamed decodes grow to this many frames: per frame, the streaming decoder costs ~57 ms
# one frame at a time, ~32 ms four at a time and ~25 ms eight at a time, about a one-shot
# decode (real 0.6B codec shape, 2-core Xeon, float32; docs/benchmark.md).
STREAM_MAX_CHUNK_FRAMES = 8
# Seeds torch's generators take; piece i of a text uses seed + i, so a margin is left below 2^64.
MAX_SEED = 2**63


@dataclass(frozen=True)
class SynthesisRequest:
    speaker: str | None = None  # a built-in speaker (CustomVoice); None: the model's default
    voice: "Voice | None" = None  # a cloned voice (Base models): voices.Voice, from Synthesizer.create_voice
    language: str = "auto"  # a language name, or auto
    instruct: str | None = None  # style instruction (1.7B CustomVoice) or voice description (VoiceDesign)
    sampling: SamplingConfig | None = None  # None: the checkpoint's generation_config.json
    seed: int | None = None  # piece i of a text is sampled with seed + i
    max_frames: int | None = None  # per piece; None: a cap that grows with the text (runtime.FRAME_CAP_*)
    max_seconds: float | None = None  # over all pieces
    # The official streaming-text prompt layout (text fed one token per frame); None: the official
    # default for the model, on for cloning (generate_voice_clone), off otherwise.
    streaming_text: bool | None = None
    ignore_eos: bool = False  # exactly max_frames frames per piece (benchmarks)
    # The run-on guard (generate/guard.py): a piece past GUARD_BASE_FRAMES + this many frames per
    # text token, or looping, is stopped. None: no guard (the official behaviour).
    max_frames_per_token: float | None = None
    chunk_frames: int = 1  # streaming: frames in the first decode
    max_chunk_frames: int | None = None  # streaming: later decodes double up to this (None: chunk_frames)


@dataclass(frozen=True)
class ResolvedRequest(SynthesisRequest):
    """A request checked against one model: speaker, language and sampling filled in."""

    language_id: int | None = None  # the codec language token; None for auto

    @property
    def largest_chunk(self) -> int:
        return max(self.chunk_frames, self.max_chunk_frames or self.chunk_frames)


def resolve_request(config: TTSConfig, request: SynthesisRequest, default_sampling: SamplingConfig) -> ResolvedRequest:
    """Check `request` against the model of `config`; raises a UsageError naming the bad value."""
    if isinstance(request, ResolvedRequest):
        return request
    speaker = _check_voice(config, request.speaker, request.instruct, request.voice)
    language = request.language.lower()
    if language not in config.languages:
        raise UnknownChoice("language", request.language, config.languages)
    if request.max_frames is not None and request.max_frames < 1:
        raise UsageError("<max_frames> must be at least 1")
    if request.max_seconds is not None and not (request.max_seconds > 0 and math.isfinite(request.max_seconds)):
        raise UsageError("<max_seconds> must be a positive number of seconds")
    if request.chunk_frames < 1 or (request.max_chunk_frames is not None and request.max_chunk_frames < 1):
        raise UsageError("<chunk_frames> must be at least 1")
    sampling = request.sampling or default_sampling
    for param, expected in sampling.problems():
        raise UsageError(f"<{param}> is {getattr(sampling, param)}; it must be {expected}")
    if request.seed is not None and not (0 <= request.seed < MAX_SEED):
        raise UsageError(f"<seed> must be a whole number from 0 to {MAX_SEED - 1}")
    if request.max_frames_per_token is not None and not (request.max_frames_per_token > 0
                                                         and math.isfinite(request.max_frames_per_token)):
        raise UsageError("<max_frames_per_token> must be a number above 0")
    if request.ignore_eos and request.max_frames is None:
        raise UsageError("<ignore_eos> needs <max_frames>: without EOS only the frame cap ends a piece")
    instruct = request.instruct or None
    # The official 0.6B CustomVoice ignores instructions, and voice cloning takes none;
    # 1.7B CustomVoice and VoiceDesign use them.
    if (config.model_type == "custom_voice" and config.model_size == "0b6") or config.model_type == "base":
        instruct = None
    values = {f.name: getattr(request, f.name) for f in fields(SynthesisRequest)}
    streaming_text = request.streaming_text
    if streaming_text is None:
        streaming_text = config.model_type == "base"
    values.update(speaker=speaker, language=language, instruct=instruct, sampling=sampling,
                  streaming_text=streaming_text)
    return ResolvedRequest(**values, language_id=_language_id(config, language, speaker))


def _check_voice(config: TTSConfig, speaker: str | None, instruct: str | None, voice) -> str | None:
    """The speaker to use (lower case), or None for a model without built-in speakers."""
    if config.model_type == "base":
        if speaker:
            raise UsageError("Base models have no built-in speakers: they clone a voice; use <voice> or <ref_audio>")
        if voice is None:
            raise UsageError("Base models clone a voice: give a reference clip with <ref_audio> "
                             "(and its transcript with <ref_text>), or a saved voice with <voice>")
        return None
    if voice is not None:
        kind = "CustomVoice" if config.model_type == "custom_voice" else "VoiceDesign"
        hint = "<speaker>" if config.model_type == "custom_voice" else "<instruct>"
        raise UsageError(f"{kind} models do not clone voices; use {hint}, or a Base model for <voice> and <ref_audio>")
    if config.model_type == "voice_design":
        if speaker:
            raise UsageError("VoiceDesign models have no built-in speakers; describe the voice with <instruct>")
        if not instruct:
            raise UsageError("VoiceDesign models need a voice description; pass <instruct>")
        return None
    speaker = speaker or config.default_speaker
    if speaker is None or speaker.lower() not in config.talker.speaker_ids:
        raise UnknownChoice("speaker", speaker, config.speakers)
    return speaker.lower()


def _language_id(config: TTSConfig, language: str, speaker: str | None) -> int | None:
    """The codec language token, or None for auto; a dialect speaker overrides auto and chinese
    (the official generate's rule)."""
    tc = config.talker
    language_id = None if language == "auto" else tc.language_ids[language]
    dialect = tc.speaker_dialect.get(speaker, False) if speaker else False
    if language in ("chinese", "auto") and dialect:
        language_id = tc.language_ids[dialect]
    return language_id
