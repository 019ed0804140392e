"""What `qwentts synth` does once its options are checked: pieces of text -> audio in a file or on stdout.

Two paths, both through the library's synthesis calls:
- to a file (default): `Synthesizer.synthesize` (all codes, then one decode, as the official
  package), then trim, resample and an atomic write;
- streaming (`--stream`, `-o -`): `Synthesizer.stream`, each chunk written as soon as it is
  decoded, raw PCM to stdout or an incrementally written WAV that is valid after every chunk.
Progress goes to stderr; stdout carries audio only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from qwentts_cli.audio import WAV_STREAM_PCM, Resampler, resample, trim_silence, write_audio, write_codes
from qwentts_cli.cli.progress import Progress
from qwentts_cli.cli.signals import Interrupted, interruptible
from qwentts_cli.cli.sinks import StdoutSink, WavSink
from qwentts_cli.request import ResolvedRequest
from qwentts_cli.runtime import SAMPLE_RATE, Synthesizer


@dataclass(frozen=True)
class OutputSpec:
    """Where and how the audio is written (checked by the synth command before the model loads)."""

    path: str  # a file, or "-" for raw PCM on stdout
    stream: bool
    pcm: str = "s16le"  # raw sample format on stdout
    subtype: str = "pcm16"  # file sample format
    sample_rate: int = SAMPLE_RATE
    trim: bool = False
    chunk_samples: int = 1920  # PCM write size on stdout
    dump_codes: str | None = None

    @property
    def to_stdout(self) -> bool:
        return self.path == "-"


@dataclass(frozen=True)
class Summary:
    frames: int
    audio_s: float
    elapsed_s: float


def speak(synth: Synthesizer, pieces: list[str], request: ResolvedRequest, out: OutputSpec,
          progress: bool = False) -> Summary:
    """Speak `pieces` into `out`. Raises Interrupted on Ctrl-C/SIGTERM (a streamed WAV is kept, finalized)."""
    start = time.perf_counter()
    codes: list[np.ndarray] = []
    bar = Progress(progress, len(pieces))
    try:
        with interruptible():
            if out.stream:
                seconds = _stream(synth, pieces, request, out, codes, bar)
            else:
                seconds = _to_file(synth, pieces, request, out, codes, bar)
    finally:
        bar.close()
    if out.dump_codes and codes:
        write_codes(out.dump_codes, np.concatenate(codes))
    return Summary(sum(len(c) for c in codes), seconds, time.perf_counter() - start)


def _to_file(synth: Synthesizer, pieces: list[str], request: ResolvedRequest, out: OutputSpec,
             codes: list[np.ndarray], bar: Progress) -> float:
    result = synth.synthesize(pieces, request, on_frame=lambda piece: bar.update(piece, 1))
    if len(result.codes):
        codes.append(result.codes)
    bar.update(len(pieces), 0)
    audio = trim_silence(result.audio, SAMPLE_RATE) if out.trim else result.audio
    audio = resample(audio, SAMPLE_RATE, out.sample_rate)
    write_audio(out.path, audio, out.sample_rate, out.subtype)
    return len(audio) / out.sample_rate


def _stream(synth: Synthesizer, pieces: list[str], request: ResolvedRequest, out: OutputSpec,
            codes: list[np.ndarray], bar: Progress) -> float:
    resampler = Resampler(SAMPLE_RATE, out.sample_rate)
    if out.to_stdout:
        sink = StdoutSink(out.pcm, out.chunk_samples)
    else:
        sink = WavSink(out.path, out.sample_rate, WAV_STREAM_PCM[out.subtype])
    written = 0
    try:
        for chunk in synth.stream(pieces, request):
            codes.append(chunk.frames)
            samples = resampler(chunk.samples)
            sink.write(samples)
            written += len(samples)
            bar.update(chunk.piece, len(chunk.frames))
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
    return written / out.sample_rate
