"""Audio at the edge: file formats, sample formats, and writes that never leave half a file.

The library yields float32 samples in [-1, 1]; only this module decides how they are stored.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable

import numpy as np

from qwentts_cli.errors import OutputError, UsageError

# soundfile format and subtype per extension and --subtype
FORMATS = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}
SUBTYPES = {
    ".wav": {"pcm16": "PCM_16", "pcm24": "PCM_24", "float": "FLOAT"},
    ".flac": {"pcm16": "PCM_16", "pcm24": "PCM_24"},
    ".ogg": {"pcm16": "VORBIS", "vorbis": "VORBIS"},
}


def output_format(path: str, subtype: str) -> tuple[str, str]:
    """(soundfile format, soundfile subtype) for an output path, or a UsageError saying what works."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise UsageError(f"cannot tell the audio format of '{path}'; use a .wav, .flac or .ogg file name")
    subtypes = SUBTYPES[ext]
    if subtype not in subtypes:
        raise UsageError(f"--subtype {subtype} does not fit {ext} files; use one of: {', '.join(subtypes)}")
    return FORMATS[ext], subtypes[subtype]


def check_writable(path: str) -> None:
    """Fail early (before the model loads) when `path` cannot be written."""
    if os.path.isdir(path):
        raise OutputError(f"'{path}' is a directory; give a file name such as out.wav")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise OutputError(f"cannot write '{path}': the folder {parent} does not exist; create it first")
    if not os.access(parent, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise OutputError(f"cannot write '{path}': permission denied; choose another output path")


def write_atomic(path: str, write: Callable[[str], None]) -> None:
    """Run `write(tmp_path)` on a temporary file beside `path`, then rename it into place.

    On any failure (or Ctrl-C) the temporary file is removed and `path` is untouched.
    """
    parent = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".qwentts-", suffix=os.path.splitext(path)[1], dir=parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_audio(path: str, audio: np.ndarray, sample_rate: int, subtype: str = "pcm16") -> None:
    """Write float samples to `path` (format from its extension), atomically."""
    import soundfile as sf

    fmt, sf_subtype = output_format(path, subtype)
    write_atomic(path, lambda tmp: sf.write(tmp, np.asarray(audio, dtype=np.float32), sample_rate, format=fmt, subtype=sf_subtype))


def write_codes(path: str, codes: np.ndarray) -> None:
    """Save codes (frames, 16) as an int64 .npy array, atomically."""

    def save(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.save(f, np.asarray(codes, dtype=np.int64))

    write_atomic(path, save)
