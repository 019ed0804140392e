"""What `qwentts synth` does once its arguments are checked: pieces of text -> audio in a file or on stdout.

Two paths share the generation loop:
- to a file (default): all codes, then one decode (as the official package), then trim,
  resample and an atomic write;
- streaming (`--stream`, `-o -`): each chunk decoded as its frames exist and written at once,
  raw PCM to stdout or an incrementally written WAV that is valid after every chunk.
Progress goes to stderr (a rich bar on a terminal); stdout carries audio only.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from qwentts_cli.audio import (
    Resampler,
    StreamingWavWriter,
    resample,
    to_pcm,
    trim_silence,
    write_audio,
    write_codes,
)
from qwentts_cli.runtime import FRAME_RATE, SAMPLE_RATE, Synthesizer


@dataclass
class SpeakRequest:
    pieces: list[str]
    output: str  # a path, or "-" for stdout
    stream: bool
    generation: dict = field(default_factory=dict)  # Synthesizer.frames keyword arguments
    max_seconds: float | None = None
    chunk_frames: int = 1
    max_chunk_frames: int = 1
    chunk_samples: int = 1920
    pcm: str = "s16le"
    subtype: str = "pcm16"
    sample_rate: int = SAMPLE_RATE
    trim: bool = False
    dump_codes: str | None = None
    progress: bool = False
    verbose: bool = False


class Interrupted(Exception):
    """Ctrl-C or SIGTERM during synthesis; carries the exit status to use."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


@contextmanager
def interruptible():
    """Turn SIGTERM into the same orderly stop as Ctrl-C (files finalized, exit 128 + signal)."""

    def on_term(signum, frame):
        raise Interrupted(128 + signum)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


class Progress:
    """Pieces done, audio seconds and real-time factor on stderr; silent unless enabled."""

    def __init__(self, enabled: bool, pieces: int):
        self.enabled = enabled
        self.start = time.perf_counter()
        self.frames = 0
        self.bar = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn

            self.bar = RichProgress(
                TextColumn("speaking"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
                console=Console(stderr=True), transient=True,
            )
            self.task = self.bar.add_task("", total=pieces, status="")
            self.bar.start()

    def update(self, piece: int, frames: int) -> None:
        self.frames += frames
        if self.bar is not None:
            audio = self.frames / FRAME_RATE
            rtf = (time.perf_counter() - self.start) / audio if audio else 0.0
            self.bar.update(self.task, completed=piece, status=f"{audio:.1f} s audio, RTF {rtf:.2f}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def speak(synth: Synthesizer, req: SpeakRequest) -> dict:
    """Run the request; returns a summary (frames, audio seconds, elapsed). Raises Interrupted on Ctrl-C/SIGTERM."""
    start = time.perf_counter()
    codes: list[np.ndarray] = []
    progress = Progress(req.progress, len(req.pieces))
    try:
        with interruptible():
            if req.stream:
                seconds = _stream(synth, req, codes, progress)
            else:
                seconds = _to_file(synth, req, codes, progress)
    finally:
        progress.close()
    if req.dump_codes and codes:
        write_codes(req.dump_codes, np.concatenate(codes))
    return {"frames": sum(len(c) for c in codes), "audio_s": seconds, "elapsed_s": time.perf_counter() - start}


def _to_file(synth: Synthesizer, req: SpeakRequest, codes: list[np.ndarray], progress: Progress) -> float:
    import torch

    frames = []
    for piece, frame in synth.piece_frames(req.pieces, max_seconds=req.max_seconds, **req.generation):
        frames.append(frame)
        progress.update(piece, 1)
    if not frames:
        audio = np.zeros(0, dtype=np.float32)
    else:
        all_codes = torch.stack(frames)
        codes.append(all_codes.cpu().numpy())
        audio = synth.codec.decode(all_codes).float().cpu().numpy().reshape(-1)
    progress.update(len(req.pieces), 0)
    if req.trim:
        audio = trim_silence(audio, SAMPLE_RATE)
    audio = resample(audio, SAMPLE_RATE, req.sample_rate)
    write_audio(req.output, audio, req.sample_rate, req.subtype)
    return len(audio) / req.sample_rate


def _stream(synth: Synthesizer, req: SpeakRequest, codes: list[np.ndarray], progress: Progress) -> float:
    resampler = Resampler(SAMPLE_RATE, req.sample_rate)
    if req.output == "-":
        sink = _StdoutSink(req.pcm, req.chunk_samples)
    else:
        sink = _WavSink(req.output, req.sample_rate, "f32le" if req.subtype == "float" else "s16le")
    written = 0
    try:
        for chunk in synth.stream(req.pieces, chunk_frames=req.chunk_frames, max_chunk_frames=req.max_chunk_frames,
                                  max_seconds=req.max_seconds,
                                  **req.generation):
            codes.append(chunk.frames)
            samples = resampler(chunk.samples)
            sink.write(samples)
            written += len(samples)
            progress.update(chunk.piece, len(chunk.frames))
        tail = resampler(np.zeros(0, dtype=np.float32), last=True)
        sink.write(tail)
        written += len(tail)
    except (KeyboardInterrupt, Interrupted):
        sink.close(keep=True)  # an interrupted stream keeps what it has, finalized
        raise
    except BaseException:
        sink.close(keep=False)
        raise
    sink.close(keep=True)
    return written / req.sample_rate


class _StdoutSink:
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


class _WavSink:
    """An incremental WAV under a temporary name, renamed into place when finished or interrupted.

    Until then an existing file at the target stays untouched; after a kill, the temporary
    file is a valid WAV of everything written so far.
    """

    def __init__(self, path: str, sample_rate: int, pcm: str):
        import tempfile

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
