"""Progress on stderr while speaking: pieces done, audio seconds, real-time factor (a rich bar)."""

from __future__ import annotations

import time

from qwentts_cli.config import FRAME_RATE


class Progress:
    """Pieces done (of those known), audio seconds, real-time factor and, when the number of pieces
    is known, the time left, on stderr; silent unless enabled."""

    def __init__(self, enabled: bool, pieces: int | None):
        self.start = time.perf_counter()
        self.frames = 0
        self.decoding_started = False
        self.bar = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn
            from rich.progress import TimeRemainingColumn

            self.bar = RichProgress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
                TimeRemainingColumn(), console=Console(stderr=True), transient=True,
            )
            self.task = self.bar.add_task("speaking piece", total=pieces, status="")
            self.bar.start()

    def update(self, piece: int, frames: int) -> None:
        """`frames` more frames made; `piece` pieces are done."""
        self.frames += frames
        if self.bar is not None:
            audio = self.frames / FRAME_RATE
            rtf = (time.perf_counter() - self.start) / audio if audio else 0.0
            self.bar.update(self.task, completed=piece, status=f"{audio:.1f} s audio, RTF {rtf:.2f}")

    def decoding(self, done_s: float, total_s: float) -> None:
        """All frames made; `done_s` of `total_s` seconds of audio decoded into the file (a book's
        decode takes minutes: the bar and its time left follow it, in whole seconds of audio)."""
        if self.bar is None:
            return
        if not self.decoding_started:  # a new count: the pieces' rate must not enter the time left
            self.decoding_started = True
            self.bar.reset(self.task, description="decoding audio s", total=max(1, round(total_s)), status="")
        self.bar.update(self.task, completed=round(done_s))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


class BatchProgress:
    """A batch job's progress on stderr: a rich bar (items, audio seconds, audio seconds per wall second,
    time left) on a terminal, else one line per item."""

    def __init__(self, items: int):
        import sys

        self.items, self.start, self.audio = items, time.perf_counter(), 0.0
        self.bar = None
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn
            from rich.progress import TimeRemainingColumn

            self.bar = RichProgress(TextColumn("items"), BarColumn(), MofNCompleteColumn(),
                                    TextColumn("{task.fields[status]}"), TimeRemainingColumn(),
                                    console=Console(stderr=True), transient=True)
            self.task = self.bar.add_task("", total=items, status="")
            self.bar.start()

    def done(self, n: int, item_id: str, status: str, audio_s: float) -> None:
        self.audio += audio_s
        elapsed = time.perf_counter() - self.start
        rate = self.audio / elapsed if elapsed else 0.0
        summary = f"{self.audio:.1f} s audio, {rate:.2f} s/s"
        if self.bar is not None:
            self.bar.update(self.task, completed=n, status=summary)
        else:
            import typer

            typer.echo(f"[{n}/{self.items}] {item_id}: {status}; {summary}", err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
