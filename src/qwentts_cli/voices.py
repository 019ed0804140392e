"""Cloned voices as values, and saved voices: one safetensors file each, in a voice library or anywhere.

A `Voice` is what the Base models clone from: the speaker embedding of a reference clip, and
for in-context cloning (ICL) the clip's codes and its transcript. It is extracted once
(`Synthesizer.create_voice`) and reused: a saved voice starts as fast as a built-in speaker.

A `.voice` file is safetensors: `xvector` (float32) and, for ICL, `ref_codes` (int64, frames x
16), with metadata: the format version, the mode, the transcript, and the family of the
checkpoint that made it (model type, size, speaker-embedding width, a fingerprint of its
speaker-encoder and speech-encoder weights). A voice only works with a checkpoint of the same
family; anything else is refused with a message naming both.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qwentts_cli.config import FRAME_RATE, TTSConfig
from qwentts_cli.errors import QwenTTSError, UsageError
from qwentts_cli.outputs import OutputTarget, write_output

if TYPE_CHECKING:  # torch only where tensors are made or read: `voice list` stays light
    import torch

VOICE_FORMAT = "qwentts-voice-1"
VOICES_ENV = "QWENTTS_VOICES"
SUFFIX = ".voice"
# A voice name: a file name in the library, so no separators, no leading dot, nothing odd.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class VoiceError(QwenTTSError):
    """A voice file that is missing, damaged or made by another kind of checkpoint."""

    exit_code = 2


@dataclass(frozen=True)
class VoiceFamily:
    """Which checkpoints a voice works with."""

    model_type: str  # "base"
    model_size: str  # "0b6", "1b7"
    xvector_dim: int
    fingerprint: str  # of the speaker encoder's and speech encoder's weights (load/fingerprint.py)

    def describe(self) -> str:
        return f"a {TTSConfig.size_name(self.model_size)} {self.model_type} checkpoint (encoders {self.fingerprint[:12]})"


def checkpoint_family(model_dir: str, config: TTSConfig) -> VoiceFamily:
    """The family of voices a checkpoint makes and takes (read from headers: milliseconds)."""
    from qwentts_cli.load.fingerprint import encoders_fingerprint

    fingerprint = "random" if model_dir.startswith("random:") else encoders_fingerprint(model_dir)
    return VoiceFamily(config.model_type, config.model_size, config.talker.stack.hidden_size, fingerprint)


def check_family(voice: "Voice", family: VoiceFamily) -> None:
    if voice.family != family:
        raise UsageError(f"the voice {voice.name or ''} was made by {voice.family.describe()}, and this model is "
                         f"{family.describe()}; create the voice again with this model")


@dataclass(frozen=True, eq=False)
class Voice:
    xvector: torch.Tensor  # (D,) float32
    ref_codes: torch.Tensor | None  # (R, 16) int64 for ICL; None: x-vector only
    ref_text: str | None  # the transcript of the reference (ICL)
    family: VoiceFamily
    name: str | None = None  # where it came from (a library name or a path), for messages

    @property
    def mode(self) -> str:
        return "icl" if self.ref_codes is not None else "x-vector"

    @property
    def seconds(self) -> float:
        return 0.0 if self.ref_codes is None else self.ref_codes.shape[0] / FRAME_RATE


def voices_dir() -> Path:
    """$QWENTTS_VOICES, else the user data folder (platformdirs: ~/.local/share/qwentts/voices on Linux)."""
    if os.environ.get(VOICES_ENV):
        return Path(os.environ[VOICES_ENV])
    import platformdirs

    return Path(platformdirs.user_data_dir("qwentts", appauthor=False)) / "voices"


def check_name(name: str) -> str:
    if not _NAME.match(name) or name.endswith(SUFFIX):
        raise UsageError(f"'{name}' is not a voice name: use letters, digits, '_', '-' and '.', up to 64, "
                         "starting with a letter or digit (no folders)")
    return name


def library_path(name: str) -> Path:
    return voices_dir() / f"{check_name(name)}{SUFFIX}"


def find_voice(spec: str) -> Path:
    """A voice file: `spec` as a path (it has a separator or ends in .voice), else a name in the library."""
    if os.sep in spec or spec.endswith(SUFFIX) or (os.altsep and os.altsep in spec):
        path = Path(spec)
        if not path.is_file():
            raise VoiceError(f"no voice file at '{spec}'")
        return path
    path = library_path(spec)
    if not path.is_file():
        known = [p.stem for p in list_voices()]
        hint = f"; saved voices: {', '.join(known)}" if known else "; create one with `qwentts voice create`"
        raise VoiceError(f"no saved voice '{spec}' in {voices_dir()}{hint}")
    return path


def list_voices() -> list[Path]:
    folder = voices_dir()
    return sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []


def voice_bytes(voice: Voice) -> bytes:
    from safetensors.torch import save

    tensors = {"xvector": voice.xvector.detach().float().contiguous().cpu()}
    if voice.ref_codes is not None:
        tensors["ref_codes"] = voice.ref_codes.detach().long().contiguous().cpu()
    f = voice.family
    metadata = {"format": VOICE_FORMAT, "mode": voice.mode, "ref_text": voice.ref_text or "",
                "model_type": f.model_type, "model_size": f.model_size, "xvector_dim": str(f.xvector_dim),
                "fingerprint": f.fingerprint}
    return save(tensors, metadata=metadata)


def save_voice(voice: Voice, target: OutputTarget) -> None:
    """Write `voice` to `target` (outputs.py: atomically; an existing voice is never half-overwritten)."""
    data = voice_bytes(voice)
    write_output(target, lambda f: f.write(data))


def load_voice(path: str | Path) -> Voice:
    """A voice file, checked whole: a truncated, corrupt or foreign file is a VoiceError naming it."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise VoiceError(f"cannot read the voice file '{path}': {e.strerror}") from None
    try:
        tensors = load(data)
        metadata = _metadata(data)
    except (SafetensorError, ValueError, json.JSONDecodeError, UnicodeDecodeError, OSError, RuntimeError) as e:
        raise VoiceError(f"'{path}' is not a qwentts voice file (or it is damaged: {str(e).splitlines()[0]}); "
                         "create it again with `qwentts voice create`") from None
    if metadata.get("format") != VOICE_FORMAT:
        raise VoiceError(f"'{path}' is not a qwentts voice file (format {metadata.get('format')!r}, "
                         f"expected {VOICE_FORMAT!r}); create it again with `qwentts voice create`")
    try:
        xvector = tensors["xvector"]
        ref_codes = tensors.get("ref_codes")
        family = VoiceFamily(metadata["model_type"], metadata["model_size"], int(metadata["xvector_dim"]),
                             metadata["fingerprint"])
        mode = metadata["mode"]
    except (KeyError, ValueError) as e:
        raise VoiceError(f"'{path}' is a damaged voice file (missing {e}); create it again") from None
    ok = (xvector.dtype == torch.float32 and tuple(xvector.shape) == (family.xvector_dim,)
          and torch.isfinite(xvector).all()
          and (mode == "x-vector") == (ref_codes is None)
          and (ref_codes is None or (ref_codes.dtype == torch.int64 and ref_codes.dim() == 2
                                     and ref_codes.shape[1] == 16 and ref_codes.shape[0] > 0
                                     and int(ref_codes.min()) >= 0 and int(ref_codes.max()) < 2048)))
    if not ok or (mode == "icl" and not metadata.get("ref_text")):
        raise VoiceError(f"'{path}' is a damaged voice file (its tensors do not match its header); create it again")
    return Voice(xvector, ref_codes, metadata.get("ref_text") or None, family, name=str(path))


def _metadata(data: bytes) -> dict:
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict):
        raise ValueError("no metadata")
    return metadata
