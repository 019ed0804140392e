"""What `qwentts synth` does once its options are checked: pieces of text -> audio in a file or on stdout.

Two paths, both through the library's synthesis calls:
- to a file (default): `Synthesizer.synthesize_codes` (all codes, then one decode, as the
  official package), the decoded audio trimmed, resampled and written a segment at a time into
  the file's temporary name, renamed into place at the end;
- streaming (`--stream`, `-o -`): `Synthesizer.stream`, each chunk written as soon as it is
  decoded, raw PCM to stdout or an incrementally written WAV that is valid after every chunk.
Progress goes to stderr; stdout carries audio only.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from qwentts_cli.audio import WAV_STREAM_PCM, Resampler, SilenceTrimmer, blocks_writer, codes_writer
from qwentts_cli.cli.progress import Progress
from qwentts_cli.cli.signals import Interrupted, interruptible
from qwentts_cli.cli.sinks import StdoutSink, WavSink
from qwentts_cli.cli.timeline import Timeline, cue_dict, cue_json, subtitles
from qwentts_cli.config import SAMPLE_RATE
from qwentts_cli.errors import PieceRanOn
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
    cues: tuple = ()  # one cue_dict per piece spoken, in the output's samples


def speak(synth: "Synthesizer", pieces: Iterable[tuple[Piece, str]], request: ResolvedRequest, out: OutputSpec,
          progress: bool = False, known: int | None = None, first: int = 1, batch: int = 1,
          frames: Iterable[tuple[int, Iterable]] | None = None) -> Summary:
    """Speak `pieces` ((piece, its spoken form) pairs, consumed as they come) into `out`.

    `known`: how many pieces there are, when known (progress); `first`: the number of the first piece
    (cues, after --start-at); `batch`: pieces generated at once (the same audio); `frames`: the
    pieces' frames, already being generated elsewhere (a batch job's shared engine; files only),
    as `Synthesizer.ordered_frames` gives them. The summary holds the pieces' cues. Raises Interrupted on
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
        with interruptible(), _numbered_from(first):
            if out.stream:
                seconds, shift, length = _stream(synth, texts(), meta, request, out, codes, bar, timeline, batch)
            else:
                seconds, shift, length = _to_file(synth, texts(), meta, request, out, codes, bar, timeline, batch, frames)
    finally:
        bar.close()
    cues = tuple(cue_dict(cue, out.sample_rate, shift, length) for cue in timeline.cues)
    return Summary(sum(len(c) for c in codes), seconds, time.perf_counter() - start, cues)


@contextmanager
def _numbered_from(first: int) -> Iterator[None]:
    """The run-on guard's warnings name a piece by the number the progress and --verbose show
    (after --start-at, piece 0 of the call is piece `first`); other warnings pass unchanged to
    whatever shows them (the CLI's stderr line, or a batch job's record)."""
    if first == 1:
        yield
        return
    with warnings.catch_warnings():
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if isinstance(message, PieceRanOn):
                message = message.numbered_from(first)
            shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


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
    """All the codes first (32 bytes a frame), then one decode, as the official package does; the
    decoded audio goes to the file a codec segment at a time, laid out, trimmed and resampled on
    the way, so that a book's audio is never in memory at once."""
    counts: list[int] = []  # frames per piece, as they come

    def on_frame(piece: int) -> None:
        counts.extend([0] * (piece + 1 - len(counts)))
        counts[piece] += 1
        bar.update(piece, 1)

    if frames is None:
        generated = synth.synthesize_codes(texts, request, on_frame=on_frame, batch=batch)
    else:
        for _ in texts:  # the pieces' text, for the cues (their frames are made elsewhere)
            pass
        generated = synth.collect_codes(frames, on_frame)
    if len(generated):
        codes.append(generated)
    bar.update(len(counts), 0)
    # The pieces' audio laid out with the pauses between them. The official cut of a cloned
    # voice's reference can leave one extra sample in front: it belongs to the first piece.
    total = synth.audio_samples(len(generated), request)
    lead = total - sum(counts) * 1920
    spans = []  # (silence before, audio samples) per piece that made frames
    for k, i in enumerate(n for n, made in enumerate(counts) if made):  # a piece with no frame: no cue, no pause
        pause = timeline.pause_before(meta[i].paragraph_before) if k else 0
        timeline.add_pause(pause)
        length = counts[i] * 1920 + (lead if k == 0 else 0)
        timeline.place(i, meta[i].text, length)
        spans.append((pause, length))
    trimmer = SilenceTrimmer(SAMPLE_RATE) if out.trim else None
    resampler = Resampler(SAMPLE_RATE, out.sample_rate)
    written = 0

    def samples() -> Iterator[np.ndarray]:
        nonlocal written
        decoded = 0
        for block in _with_pauses(synth.audio_blocks(generated, request), spans):
            decoded += len(block)
            bar.decoding(decoded / SAMPLE_RATE, timeline.position / SAMPLE_RATE)
            block = resampler(trimmer.push(block) if trimmer else block)
            written += len(block)
            yield block
        block = resampler(trimmer.finish() if trimmer else np.zeros(0, dtype=np.float32), last=True)
        written += len(block)
        yield block

    staged = []
    try:
        staged.append(stage_output(out.target, blocks_writer(out.format_name or out.target.path, samples(),
                                                             out.sample_rate, out.subtype)))
        shift = trimmer.start if trimmer else 0
        for cue in timeline.cues:  # the whole audio is known only now: trimming and length included
            _live_cue(out, cue, shift, written)
        staged.append(_stage_codes(out, codes))
        staged.append(_stage_subtitles(out, timeline, shift, written))
    except BaseException:
        _discard(staged)  # the codes and subtitles go too: nothing appears
        raise
    _commit(staged)
    return written / out.sample_rate, shift, written


def _with_pauses(blocks: Iterable[np.ndarray], spans: list[tuple[int, int]]) -> Iterator[np.ndarray]:
    """Audio blocks with silence put between the pieces: `spans` are (silence before, audio samples),
    piece by piece, and account for all the audio."""
    if not any(pause for pause, _ in spans):
        yield from blocks
        return
    blocks, current = iter(blocks), np.zeros(0, dtype=np.float32)
    for pause, length in spans:
        if pause:
            yield np.zeros(pause, dtype=np.float32)
        while length:
            if not len(current):
                current = next(blocks)
            part, current = current[:length], current[length:]
            length -= len(part)
            yield part


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
            codes.append(chunk.frames.astype(np.int16))  # 32 bytes a frame, as for files: a streamed book keeps them all
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
    return written / out.sample_rate, 0, None
