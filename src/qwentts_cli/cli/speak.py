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
from typing import TYPE_CHECKING

import numpy as np

from qwentts_cli.audio import WAV_STREAM_PCM, Resampler, audio_writer, codes_writer, resample, trim_silence
from qwentts_cli.cli.progress import Progress
from qwentts_cli.cli.signals import Interrupted, interruptible
from qwentts_cli.cli.sinks import StdoutSink, WavSink
from qwentts_cli.config import SAMPLE_RATE
from qwentts_cli.outputs import AtomicFile, OutputTarget, stage_output
from qwentts_cli.request import ResolvedRequest

if TYPE_CHECKING:  # the synth command checks its options with this module before torch is imported
    from qwentts_cli.runtime import Synthesizer


@dataclass(frozen=True)
class OutputSpec:
    """Where and how the audio is written (checked by the synth command before the model loads)."""

    target: OutputTarget | None  # None: raw PCM on stdout
    stream: bool
    pcm: str = "s16le"  # raw sample format on stdout
    subtype: str = "pcm16"  # file sample format
    sample_rate: int = SAMPLE_RATE
    trim: bool = False
    chunk_samples: int = 1920  # PCM write size on stdout
    dump_codes: OutputTarget | None = None
    format_name: str = ""  # the name whose extension gives the file format ("" : the target's path)

    @property
    def to_stdout(self) -> bool:
        return self.target is None

    @property
    def path(self) -> str:
        return "-" if self.target is None else self.target.path


@dataclass(frozen=True)
class Summary:
    frames: int
    audio_s: float
    elapsed_s: float


def speak(synth: "Synthesizer", pieces: list[str], request: ResolvedRequest, out: OutputSpec,
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
    return Summary(sum(len(c) for c in codes), seconds, time.perf_counter() - start)


def _stage_codes(out: OutputSpec, codes: list[np.ndarray]) -> AtomicFile | None:
    """The codes file, written but not yet in place (outputs.stage_output), so that the audio and
    the codes appear together or not at all."""
    if out.dump_codes is None:
        return None
    frames = np.concatenate(codes) if codes else np.zeros((0, 16), dtype=np.int64)
    return stage_output(out.dump_codes, codes_writer(frames))


def _commit(staged: list[AtomicFile | None]) -> None:
    for file in staged:
        if file is not None:
            file.commit()


def _discard(staged: list[AtomicFile | None]) -> None:
    for file in staged:
        if file is not None:
            file.discard()


def _to_file(synth: "Synthesizer", pieces: list[str], request: ResolvedRequest, out: OutputSpec,
             codes: list[np.ndarray], bar: Progress) -> float:
    result = synth.synthesize(pieces, request, on_frame=lambda piece: bar.update(piece, 1))
    if len(result.codes):
        codes.append(result.codes)
    bar.update(len(pieces), 0)
    audio = trim_silence(result.audio, SAMPLE_RATE) if out.trim else result.audio
    audio = resample(audio, SAMPLE_RATE, out.sample_rate)
    staged = [_stage_codes(out, codes)]
    try:
        staged.append(stage_output(out.target, audio_writer(out.format_name or out.target.path, audio, out.sample_rate,
                                                            out.subtype)))
    except BaseException:
        _discard(staged)  # the codes file goes too: nothing appears
        raise
    _commit(staged)
    return len(audio) / out.sample_rate


def _stream(synth: "Synthesizer", pieces: list[str], request: ResolvedRequest, out: OutputSpec,
            codes: list[np.ndarray], bar: Progress) -> float:
    resampler = Resampler(SAMPLE_RATE, out.sample_rate)
    if out.to_stdout:
        sink = StdoutSink(out.pcm, out.chunk_samples)
    else:
        sink = WavSink(out.target, out.sample_rate, WAV_STREAM_PCM[out.subtype])
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
        staged = _stage_codes(out, codes)
    except Interrupted as e:
        e.kept = sink.close(complete=False)  # the audio so far, finalized, beside the untouched target
        raise
    except BaseException:
        sink.fail()
        raise
    try:
        sink.close(complete=True)
    except BaseException:
        _discard([staged])
        raise
    _commit([staged])
    return written / out.sample_rate
