"""Where streamed audio goes: raw PCM on stdout, or an incremental WAV renamed into place at the end."""

from __future__ import annotations

import os
import sys
import tempfile

import numpy as np

from qwentts_cli.audio import StreamingWavWriter, to_pcm


class StdoutSink:
    """Raw PCM to stdout in pieces of `chunk_samples`, flushed as soon as written."""

    def __init__(self, pcm: str, chunk_samples: int):
        self.out = sys.stdout.buffer
        self.pcm = pcm
        self.chunk = max(1, chunk_samples)

    def write(self, samples: np.ndarray) -> None:
        for i in range(0, len(samples), self.chunk):
            self.out.write(to_pcm(samples[i : i + self.chunk], self.pcm))
            self.out.flush()

    def close(self, keep: bool) -> None:
        pass


class WavSink:
    """An incremental WAV under a temporary name, renamed into place when finished or interrupted.

    Until then an existing file at the target stays untouched; after a kill, the temporary
    file is a valid WAV of everything written so far.
    """

    def __init__(self, path: str, sample_rate: int, pcm: str):
        self.path = path
        fd, self.tmp = tempfile.mkstemp(prefix=".qwentts-", suffix=".wav", dir=os.path.dirname(os.path.abspath(path)))
        os.close(fd)
        self.writer = StreamingWavWriter(self.tmp, sample_rate, pcm)

    def write(self, samples: np.ndarray) -> None:
        if len(samples):
            self.writer.write(samples)

    def close(self, keep: bool) -> None:
        """Finalize; `keep` renames the file into place (if it holds audio), otherwise it is removed."""
        self.writer.close()
        if keep and self.writer.data_bytes:
            os.replace(self.tmp, self.path)
        else:
            os.unlink(self.tmp)
