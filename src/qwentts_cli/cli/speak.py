"""What `qwentts synth` does once its options are checked: pieces of text -> audio in a file or on stdout.

Two paths, both through the library's synthesis calls:
- to a file (default): `Synthesizer.synthesize` (all codes, then one decode, as the official
  package), then trim, resample and an atomic write;
- streaming (`--stream`, `-o -`): `Synthesizer.stream`, each chunk written as soon as it is
  decoded, raw PCM to stdout or an incrementally written WAV that is valid after every chunk.
Progress goes to stderr; stdout carries audio only.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from qwentts_cli.audio import WAV_STREAM_PCM, Resampler, audio_writer, codes_writer, resample, speech_bounds
from qwentts_cli.cli.progress import Progress
from qwentts_cli.cli.signals import Interrupted, interruptible
from qwentts_cli.cli.sinks import StdoutSink, WavSink
from qwentts_cli.cli.timeline import Timeline, cue_json, subtitles
from qwentts_cli.config import SAMPLE_RATE
from qwentts_cli.outputs import STDOUT, AtomicFile, OutputTarget, stage_output
from qwentts_cli.request import ResolvedRequest
from qwentts_cli.text.feed import Piece

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
    subtitles: OutputTarget | None = None  # .srt or .vtt; "-" (its real is "-"): JSON cues on stderr
    sentence_pause_ms: int = 0
    paragraph_pause_ms: int = 0

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


def speak(synth: "Synthesizer", pieces: Iterable[tuple[Piece, str]], request: ResolvedRequest, out: OutputSpec,
          progress: bool = False, known: int | None = None, first: int = 1, batch: int = 1,
          frames: Iterable[tuple[int, Iterable]] | None = None) -> Summary:
    """Speak `pieces` ((piece, its spoken form) pairs, consumed as they come) into `out`.

    `known`: how many pieces there are, when known (progress); `first`: the number of the first piece
    (cues, after --start-at); `batch`: pieces generated at once (the same audio); `frames`: the
    pieces' frames, already being generated elsewhere (a batch job's shared engine; files only),
    as `Synthesizer.ordered_frames` gives them. Raises Interrupted on
    Ctrl-C/SIGTERM/SIGHUP (a streamed WAV is kept, finalized, as X.partial.wav).
    """
    start = time.perf_counter()
    codes: list[np.ndarray] = []
    bar = Progress(progress, known)
    timeline = Timeline(out.sentence_pause_ms * SAMPLE_RATE // 1000, out.paragraph_pause_ms * SAMPLE_RATE // 1000,
                        first=first)
    meta: list[Piece] = []  # the pieces as spoken (cues show what was said)

    def texts() -> Iterator[str]:
        for piece, spoken in pieces:
            meta.append(Piece(spoken, piece.paragraph_before))
            yield spoken

    try:
        with interruptible():
            if out.stream:
                seconds = _stream(synth, texts(), meta, request, out, codes, bar, timeline, batch)
            else:
                seconds = _to_file(synth, texts(), meta, request, out, codes, bar, timeline, batch, frames)
    finally:
        bar.close()
    return Summary(sum(len(c) for c in codes), seconds, time.perf_counter() - start)


def _live_cue(out: OutputSpec, cue, shift: int = 0, length: int | None = None) -> None:
    """`--subtitles -`: a cue as a JSON line on stderr."""
    if out.subtitles is not None and out.subtitles.real == STDOUT:
        print(cue_json(cue, out.sample_rate, shift, length), file=sys.stderr, flush=True)


def _stage_subtitles(out: OutputSpec, timeline: Timeline, shift: int = 0, length: int | None = None):
    if out.subtitles is None or out.subtitles.real == STDOUT:
        return None
    kind = os.path.splitext(out.subtitles.path)[1].lower()
    text = subtitles(timeline.cues, kind, out.sample_rate, shift, length).encode("utf-8")
    return stage_output(out.subtitles, lambda f: f.write(text))


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


def _to_file(synth: "Synthesizer", texts: Iterator[str], meta: list[Piece], request: ResolvedRequest,
             out: OutputSpec, codes: list[np.ndarray], bar: Progress, timeline: Timeline, batch: int = 1,
             frames: Iterable[tuple[int, Iterable]] | None = None) -> float:
    counts: list[int] = []  # frames per piece, as they come

    def on_frame(piece: int) -> None:
        counts.extend([0] * (piece + 1 - len(counts)))
        counts[piece] += 1
        bar.update(piece, 1)

    if frames is None:
        result = synth.synthesize(texts, request, on_frame=on_frame, batch=batch)
    else:
        for _ in texts:  # the pieces' text, for the cues (their frames are made elsewhere)
            pass
        result = synth.decode_pieces(frames, request, on_frame=on_frame)
    if len(result.codes):
        codes.append(result.codes)
    bar.update(len(counts), 0)
    # The pieces' audio laid out with the pauses between them. The official cut of a cloned
    # voice's reference can leave one extra sample in front: it belongs to the first piece.
    lead = len(result.audio) - sum(counts) * 1920
    parts, position = [], 0
    spoken = [i for i, n in enumerate(counts) if n]  # a piece that made no frame has no cue and no pause
    for k, i in enumerate(spoken):
        if k:
            pause = timeline.pause_before(meta[i].paragraph_before)
            parts.append(np.zeros(pause, dtype=np.float32))
            timeline.add_pause(pause)
        length = counts[i] * 1920 + (lead if k == 0 else 0)
        parts.append(result.audio[position : position + length])
        position += length
        timeline.place(i, meta[i].text, length)
    audio = np.concatenate(parts) if parts else result.audio
    shift = 0
    if out.trim:
        shift, end = speech_bounds(audio, SAMPLE_RATE)
        audio = audio[shift:end]
    audio = resample(audio, SAMPLE_RATE, out.sample_rate)
    for cue in timeline.cues:  # the whole audio is known only now: trimming and length included
        _live_cue(out, cue, shift, len(audio))
    staged = []
    try:
        staged.append(_stage_codes(out, codes))
        staged.append(_stage_subtitles(out, timeline, shift, len(audio)))
        staged.append(stage_output(out.target, audio_writer(out.format_name or out.target.path, audio, out.sample_rate,
                                                            out.subtype)))
    except BaseException:
        _discard(staged)  # the codes and subtitles go too: nothing appears
        raise
    _commit(staged)
    return len(audio) / out.sample_rate


def _stream(synth: "Synthesizer", texts: Iterator[str], meta: list[Piece], request: ResolvedRequest,
            out: OutputSpec, codes: list[np.ndarray], bar: Progress, timeline: Timeline, batch: int = 1) -> float:
    resampler = Resampler(SAMPLE_RATE, out.sample_rate)
    if out.to_stdout:
        sink = StdoutSink(out.pcm, out.chunk_samples)
    else:
        sink = WavSink(out.target, out.sample_rate, WAV_STREAM_PCM[out.subtype])
    written = 0
    current, start = None, 0  # the piece being written, and where its audio began

    def write(samples: np.ndarray) -> None:
        nonlocal written
        samples = resampler(samples)
        sink.write(samples)
        written += len(samples)

    try:
        for chunk in synth.stream(texts, request, batch=batch):
            if chunk.piece != current and len(chunk.frames):
                if timeline.cues:  # a pause before every piece but the first
                    pause = timeline.pause_before(meta[chunk.piece].paragraph_before)
                    write(np.zeros(pause, dtype=np.float32))
                    timeline.add_pause(pause)
                current, start = chunk.piece, timeline.position
            codes.append(chunk.frames)
            write(chunk.samples)
            timeline.position += len(chunk.samples)
            bar.update(chunk.piece, len(chunk.frames))
            if chunk.piece_end and chunk.piece == current:
                # The piece's cue, as soon as it ends (live subtitles keep up with the audio).
                _live_cue(out, timeline.place_span(current, meta[current].text, start))
                current = None
        tail = resampler(np.zeros(0, dtype=np.float32), last=True)
        sink.write(tail)
        written += len(tail)
    except Interrupted as e:
        e.kept = sink.close(complete=False)  # the audio so far, finalized, beside the untouched target
        raise
    except BaseException:
        sink.fail()
        raise
    staged: list[AtomicFile | None] = []
    try:
        staged.append(_stage_codes(out, codes))
        staged.append(_stage_subtitles(out, timeline))
        sink.close(complete=True)
    except BaseException:
        _discard(staged)
        sink.fail()
        raise
    _commit(staged)
    return written / out.sample_rate
