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
        raise UsageError(f"<subtype> {subtype} does not fit {ext} files; use one of: {', '.join(subtypes)}")
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

    On any failure (or Ctrl-C) the temporary file is removed and `path` is untouched; a failed
    write (a full disk, a read-only folder) is an OutputError naming `path`.
    """
    parent = os.path.dirname(os.path.abspath(path))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".qwentts-", suffix=os.path.splitext(path)[1], dir=parent)
        os.close(fd)
        write(tmp)
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise OutputError(f"cannot write '{path}': {e.strerror or e}; nothing was written there") from e
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


# --- sample formats, post-processing --------------------------------------------------------

PCM_FORMATS = ("s16le", "f32le")  # raw audio on stdout
# The raw sample format an incrementally written WAV holds, per WAV subtype.
WAV_STREAM_PCM = {"pcm16": "s16le", "pcm24": "s24le", "float": "f32le"}
_PCM_BITS = {"s16le": 16, "s24le": 24, "f32le": 32}


def to_pcm(samples: np.ndarray, pcm: str) -> bytes:
    """Float samples -> raw little-endian PCM bytes (s16le, s24le: clipped, scaled by 2^15 - 1 or
    2^23 - 1 and rounded; f32le: as is). libsndfile rounds a one-shot file's samples its own way:
    the two agree within 2 steps of the integer format."""
    samples = np.asarray(samples, dtype=np.float32)
    if pcm == "f32le":
        return samples.astype("<f4").tobytes()
    clipped = np.clip(samples, -1.0, 1.0)
    if pcm == "s24le":
        ints = (clipped * np.float32(8388607.0)).round().astype("<i4")
        return ints.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()  # the low three bytes, little-endian
    return (clipped * 32767.0).round().astype("<i2").tobytes()


# Silence is what stays below this RMS (-50 dBFS) over 10 ms windows; a little margin is kept
# around speech so consonant onsets and release tails are not clipped.
SILENCE_RMS = 10 ** (-50 / 20)
SILENCE_WINDOW_S = 0.010
SILENCE_MARGIN_S = 0.050


def speech_bounds(samples: np.ndarray, sample_rate: int) -> tuple[int, int]:
    """(start, end) sample indices of the part louder than SILENCE_RMS, widened by SILENCE_MARGIN_S."""
    window = max(1, int(sample_rate * SILENCE_WINDOW_S))
    n = len(samples) // window
    if n == 0:
        return 0, len(samples)
    rms = np.sqrt(np.mean(np.square(samples[: n * window].reshape(n, window), dtype=np.float64), axis=1))
    loud = np.flatnonzero(rms > SILENCE_RMS)
    if loud.size == 0:
        return 0, 0
    margin = int(sample_rate * SILENCE_MARGIN_S)
    return max(0, loud[0] * window - margin), min(len(samples), (loud[-1] + 1) * window + margin)


def trim_silence(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    start, end = speech_bounds(samples, sample_rate)
    return samples[start:end]


class Resampler:
    """Streaming sample-rate conversion with soxr (high quality); identity when the rates match."""

    def __init__(self, in_rate: int, out_rate: int):
        self.active = in_rate != out_rate
        if self.active:
            import soxr

            self.stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality="HQ")

    def __call__(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        if not self.active:
            return samples
        return self.stream.resample_chunk(np.asarray(samples, dtype=np.float32), last=last)


def resample(samples: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    if in_rate == out_rate:
        return samples
    import soxr

    return soxr.resample(np.asarray(samples, dtype=np.float32), in_rate, out_rate, quality="HQ")


# --- incremental WAV ------------------------------------------------------------------------


class StreamingWavWriter:
    """A WAV file written as audio comes, valid after every chunk.

    The RIFF and data sizes in the header are rewritten after each chunk, so a run that is
    interrupted (or killed) leaves a playable file holding everything written so far.
    """

    def __init__(self, path: str, sample_rate: int, pcm: str = "s16le"):
        self.path = path
        self.pcm = pcm
        self.data_bytes = 0
        self.file = open(path, "wb")
        bits, fmt_tag = _PCM_BITS[pcm], 3 if pcm == "f32le" else 1  # IEEE float or PCM
        block = bits // 8
        header = b"RIFF" + (36).to_bytes(4, "little") + b"WAVE"
        header += b"fmt " + (16).to_bytes(4, "little") + fmt_tag.to_bytes(2, "little") + (1).to_bytes(2, "little")
        header += sample_rate.to_bytes(4, "little") + (sample_rate * block).to_bytes(4, "little")
        header += block.to_bytes(2, "little") + bits.to_bytes(2, "little")
        header += b"data" + (0).to_bytes(4, "little")
        self.file.write(header)

    def write(self, samples: np.ndarray) -> None:
        data = to_pcm(samples, self.pcm)
        self.file.write(data)
        self.data_bytes += len(data)
        end = self.file.tell()
        self.file.seek(4)
        self.file.write((36 + self.data_bytes).to_bytes(4, "little"))
        self.file.seek(40)
        self.file.write(self.data_bytes.to_bytes(4, "little"))
        self.file.seek(end)
        self.file.flush()

    def close(self) -> None:
        self.file.close()
