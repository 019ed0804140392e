"""Audio at the edge: file formats, sample formats, resampling, and the incremental WAV.

The library yields float32 samples in [-1, 1]; only this module decides how they are stored.
Where the bytes go (atomically, or in place for a stream) is outputs.py's business.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

import numpy as np

from qwentts_cli.errors import UsageError

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


# libsndfile writes a plain RIFF WAV, whose sizes are 32-bit; the margin covers its header chunks.
_WAV_MAX_DATA = 0xFFFFFFFF - 4096
_SAMPLE_BYTES = {"PCM_16": 2, "PCM_24": 3, "FLOAT": 4}


def blocks_writer(path: str, blocks: Iterable[np.ndarray], sample_rate: int,
                  subtype: str = "pcm16") -> Callable[[BinaryIO], None]:
    """What writes float sample blocks, consumed as they come, as the file `path` names: the bytes a
    one-shot write of all of them makes (the same samples, for Vorbis), with one block in memory."""
    import soundfile as sf

    fmt, sf_subtype = output_format(path, subtype)

    def write(f: BinaryIO) -> None:
        data = 0
        with sf.SoundFile(f, "w", sample_rate, 1, format=fmt, subtype=sf_subtype) as out:
            for block in blocks:
                data += len(block) * _SAMPLE_BYTES.get(sf_subtype, 0)
                if fmt == "WAV" and data > _WAV_MAX_DATA:
                    from qwentts_cli.errors import OutputError

                    raise OutputError(WAV_TOO_LONG)
                out.write(np.asarray(block, dtype=np.float32))

    return write


def codes_writer(codes: np.ndarray) -> Callable[[BinaryIO], None]:
    """What writes codes (frames, 16) as an int64 .npy array, for outputs.py."""
    return lambda f: np.save(f, np.asarray(codes, dtype=np.int64))


# --- sample formats, post-processing --------------------------------------------------------

WAV_TOO_LONG = "a WAV file holds at most 4 GiB of audio; write FLAC, stream raw PCM, or split the text"
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
    loud = _loud_windows(samples[: n * window], window)
    if loud.size == 0:
        return 0, 0
    margin = int(sample_rate * SILENCE_MARGIN_S)
    return max(0, loud[0] * window - margin), min(len(samples), (loud[-1] + 1) * window + margin)


def _loud_windows(samples: np.ndarray, window: int) -> np.ndarray:
    """Indices of the windows (a whole number of them in `samples`) louder than SILENCE_RMS."""
    n = len(samples) // window
    rms = np.sqrt(np.mean(np.square(samples.reshape(n, window), dtype=np.float64), axis=1))
    return np.flatnonzero(rms > SILENCE_RMS)


def trim_silence(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    start, end = speech_bounds(samples, sample_rate)
    return samples[start:end]


class SilenceTrimmer:
    """`speech_bounds` of audio that comes in blocks: `push` returns what is sure to be kept, `finish`
    the rest; together they are `trim_silence` of all the audio, and `start`/`end` its bounds.

    Silence is held back only as long as it is not known whether speech follows (the trailing
    silence of everything so far), and before any speech only the last margin of it."""

    def __init__(self, sample_rate: int):
        self.window = max(1, int(sample_rate * SILENCE_WINDOW_S))
        self.margin = int(sample_rate * SILENCE_MARGIN_S)
        self.held = np.zeros(0, dtype=np.float32)  # samples from `held_from` on, not yet given out
        self.held_from = 0
        self.unjudged = np.zeros(0, dtype=np.float32)
        self.seen = 0  # samples pushed
        self.scanned = 0  # samples whose windows are judged (a whole number of windows)
        self.start: int | None = None  # bounds, once speech is found
        self.speech_end = 0  # the end of the last loud window
        self.end: int | None = None  # after finish

    def push(self, samples: np.ndarray) -> np.ndarray:
        samples = np.asarray(samples, dtype=np.float32)
        self.held = np.concatenate((self.held, samples))
        self.unjudged = np.concatenate((self.unjudged, samples))  # from `scanned` on (less than a window between pushes)
        self.seen += len(samples)
        whole = len(self.unjudged) // self.window * self.window
        if whole:
            loud = _loud_windows(self.unjudged[:whole], self.window)
            self.unjudged = self.unjudged[whole:]
            if loud.size:
                first = self.scanned + int(loud[0]) * self.window
                if self.start is None:
                    self.start = max(0, first - self.margin)
                self.speech_end = self.scanned + (int(loud[-1]) + 1) * self.window
            self.scanned += whole
        if self.start is None:
            return self._drop_to(max(0, self.scanned - self.margin))
        return self._give(min(self.seen, self.speech_end + self.margin))

    def finish(self) -> np.ndarray:
        if self.seen < self.window:  # too short to judge: kept whole, as speech_bounds keeps it
            self.start, self.end = 0, self.seen
        elif self.start is None:
            self.start = self.end = 0
            return np.zeros(0, dtype=np.float32)
        else:
            self.end = min(self.seen, self.speech_end + self.margin)
        return self._give(self.end)

    def _drop_to(self, position: int) -> np.ndarray:
        """Before any speech: what lies before `position` can never be kept."""
        if position > self.held_from:
            self.held = self.held[position - self.held_from :]
            self.held_from = position
        return np.zeros(0, dtype=np.float32)

    def _give(self, until: int) -> np.ndarray:
        """The held samples in [start, until), given out."""
        self._drop_to(self.start)
        out = self.held[: max(0, until - self.held_from)]
        self.held = self.held[len(out) :]
        self.held_from += len(out)
        return out


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

    On a seekable file the RIFF and data sizes in the header are rewritten after each chunk,
    so a run that is interrupted (or killed) leaves a playable file holding everything written
    so far. On a stream (a FIFO) the sizes are written as "unknown" (0xFFFFFFFF), as sox and
    ffmpeg do for piped WAV, and nothing is rewritten.
    """

    UNKNOWN = 0xFFFFFFFF

    def __init__(self, file: BinaryIO, sample_rate: int, pcm: str = "s16le"):
        self.file = file
        self.pcm = pcm
        self.data_bytes = 0
        self.seekable = file.seekable()
        bits, fmt_tag = _PCM_BITS[pcm], 3 if pcm == "f32le" else 1  # IEEE float or PCM
        block = bits // 8
        riff, data = (36, 0) if self.seekable else (self.UNKNOWN, self.UNKNOWN)
        header = b"RIFF" + riff.to_bytes(4, "little") + b"WAVE"
        header += b"fmt " + (16).to_bytes(4, "little") + fmt_tag.to_bytes(2, "little") + (1).to_bytes(2, "little")
        header += sample_rate.to_bytes(4, "little") + (sample_rate * block).to_bytes(4, "little")
        header += block.to_bytes(2, "little") + bits.to_bytes(2, "little")
        header += b"data" + data.to_bytes(4, "little")
        self.file.write(header)

    def write(self, samples: np.ndarray) -> None:
        data = to_pcm(samples, self.pcm)
        if self.seekable and 36 + self.data_bytes + len(data) > 0xFFFFFFFF:
            from qwentts_cli.errors import OutputError

            raise OutputError(WAV_TOO_LONG)
        self.file.write(data)
        self.data_bytes += len(data)
        if self.seekable:
            end = self.file.tell()
            self.file.seek(4)
            self.file.write((36 + self.data_bytes).to_bytes(4, "little"))
            self.file.seek(40)
            self.file.write(self.data_bytes.to_bytes(4, "little"))
            self.file.seek(end)
        self.file.flush()
