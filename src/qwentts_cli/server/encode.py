"""Audio as OpenAI's `response_format`s, encoded as it is decoded (chunk in, bytes out).

- pcm: raw signed 16-bit little-endian at 24 kHz, mono (what OpenAI's pcm is);
- wav: 16-bit PCM; streamed, the header gives the sizes as unknown (0xFFFFFFFF, as sox and
  ffmpeg write piped WAV); whole, libsndfile encodes it as it comes and the sizes are exact;
- mp3 (constant bitrate), opus (in Ogg): libsndfile through soundfile, writing into a buffer
  that hands out what the encoder has written so far. At the end the MP3 encoder seeks back to
  fill in its Info frame, which a streamed response has already sent (blank): constant bitrate
  keeps the stream readable without it (a reader's length estimate from the first frame is
  then exact; with variable bitrate libsndfile's reader stopped after a quarter of the audio);
- flac: sent once complete. Its header holds the sample count, and libsndfile cannot read a
  FLAC stream whose header says "unknown".
- aac has no encoder in libsndfile: refused with the formats that are there.
"""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf

from qwentts_cli.audio import StreamingWavWriter, to_pcm
from qwentts_cli.config import SAMPLE_RATE

FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
SUPPORTED = ("mp3", "opus", "flac", "wav", "pcm")
MEDIA_TYPES = {"mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac", "flac": "audio/flac",
               "wav": "audio/wav", "pcm": "audio/pcm"}
# libsndfile's containers; "wav" is used for a whole WAV only (streamed, StreamingWavWriter writes it).
_SOUNDFILE = {"flac": ("FLAC", "PCM_16"), "mp3": ("MP3", "MPEG_LAYER_III"), "opus": ("OGG", "OPUS"),
              "wav": ("WAV", "PCM_16")}


class _Tap(io.RawIOBase):
    """A growing buffer that libsndfile writes into (and may seek in); `take()` returns the new bytes."""

    def __init__(self):
        self.data = bytearray()
        self.pos = 0
        self.sent = 0

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, b) -> int:
        b = bytes(b)
        end = self.pos + len(b)
        if end > len(self.data):
            self.data.extend(b"\0" * (end - len(self.data)))
        self.data[self.pos : end] = b
        self.pos = end
        return len(b)

    def readinto(self, b) -> int:
        chunk = self.data[self.pos : self.pos + len(b)]
        b[: len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = offset if whence == 0 else self.pos + offset if whence == 1 else len(self.data) + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def take(self) -> bytes:
        out = bytes(self.data[self.sent :])
        self.sent = len(self.data)
        return out


class Encoder:
    """push(samples) -> the bytes ready so far; close() -> the rest. One per response."""

    def __init__(self, fmt: str, streamed: bool):
        self.fmt, self.streamed = fmt, streamed
        self._tap = _Tap()
        self._file = None
        if fmt == "flac":
            self.streamed = streamed = False
        if fmt == "wav" and streamed:
            self._wav = StreamingWavWriter(_Unseekable(self._tap), SAMPLE_RATE, "s16le")
        elif fmt in _SOUNDFILE:
            container, subtype = _SOUNDFILE[fmt]
            extra = {"bitrate_mode": "CONSTANT", "compression_level": 0.5} if fmt == "mp3" else {}
            self._file = sf.SoundFile(self._tap, "w", SAMPLE_RATE, 1, subtype, format=container, **extra)

    def push(self, samples: np.ndarray) -> bytes:
        if not len(samples):
            return b""
        if self.fmt == "pcm":
            return to_pcm(samples, "s16le")
        if self.fmt == "wav" and self.streamed:
            self._wav.write(samples)
            return self._tap.take()
        if self.fmt == "flac":  # 16-bit as pcm and wav round it (libsndfile's own conversion rounds apart)
            samples = np.frombuffer(to_pcm(samples, "s16le"), dtype="<i2")
        self._file.write(samples)
        return self._tap.take() if self.streamed else b""

    def close(self) -> bytes:
        if self.fmt == "pcm":
            return b""
        if self.fmt == "wav" and self.streamed:
            return self._tap.take()
        self._file.close()
        if self.streamed:
            return self._tap.take()  # what a header patch rewrote in front is already sent
        return bytes(self._tap.data)


class _Unseekable:
    """A writer that says it cannot seek (StreamingWavWriter then writes unknown sizes)."""

    def __init__(self, tap: _Tap):
        self.tap = tap

    def seekable(self) -> bool:
        return False

    def write(self, b) -> int:
        return self.tap.write(b)

    def flush(self) -> None:
        pass
