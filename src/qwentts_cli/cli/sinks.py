"""Where streamed audio goes: raw PCM on stdout, or an incremental WAV.

A WAV file target is written under a temporary name (outputs.AtomicFile) and renamed into
place only when the run completes, so the target only ever holds a complete output. An
interrupted run (Ctrl-C, SIGTERM, SIGHUP) leaves an existing target as it was and keeps
the audio made so far, finalized, under a fresh name beside it (`X.partial.wav`), which it
reports. A FIFO or character device target is written in place as the audio comes.
"""

from __future__ import annotations

import sys

import numpy as np

from qwentts_cli.audio import StreamingWavWriter, to_pcm
from qwentts_cli.errors import OutputError
from qwentts_cli.outputs import AtomicFile, OutputTarget, partial_name


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

    def close(self, complete: bool) -> str | None:
        return None

    def fail(self) -> None:
        pass


class WavSink:
    """An incremental WAV: valid after every chunk, in place only once complete (see the module docstring)."""

    def __init__(self, target: OutputTarget, sample_rate: int, pcm: str):
        self.target = target
        self.atomic = None if target.stream else AtomicFile(target)
        try:
            file = open(target.real, "wb") if target.stream else self.atomic.file
            self.writer = StreamingWavWriter(file, sample_rate, pcm)
        except OSError as e:
            self._abandon()
            raise OutputError(f"cannot write '{target.path}': {e.strerror}") from e

    def write(self, samples: np.ndarray) -> None:
        if not len(samples):
            return
        try:
            self.writer.write(samples)
        except OSError as e:
            raise OutputError(f"cannot write '{self.target.path}': {e.strerror}; nothing was written there") from e

    def close(self, complete: bool) -> str | None:
        """Finish: a complete run goes into place; an interrupted one is kept beside it if it holds
        audio (-> its name), a failed one is removed (-> None)."""
        if self.atomic is None:
            try:
                self.writer.file.close()
            except OSError:
                pass
            return None
        if complete:
            self.atomic.commit()
            return None
        if self.writer.data_bytes:
            name = partial_name(self.target)
            self.atomic.keep_as(name)
            return name
        self.atomic.discard()
        return None

    def fail(self) -> None:
        """A failed run: nothing is kept."""
        self._abandon()

    def _abandon(self) -> None:
        if self.atomic is not None:
            self.atomic.discard()
