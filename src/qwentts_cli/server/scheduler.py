"""Requests from many clients through one batched engine: continuous batching across requests.

One thread owns the model's `BatchEngine` (generate/batch.py) and steps it (its torch work on
the server's compute thread, compute.py); request threads
submit a `Stream` (its pieces of text, spoken in order) and read its frames as they come. A
stream holds at most one slot at a time: its next piece joins as its current one ends (in
the slot it frees, so a long text keeps its turn), and waiting streams take free slots in
arrival order. So every running request makes progress at every step, and a new request
joins at the next frame boundary. Each row gets the frames it gets alone (generate/batch.py),
so a response does not depend on what else the server is doing.

Back-pressure: at most `max_waiting` streams wait for a slot; past that `submit` raises
QueueFull (the HTTP layer answers 429). A client that goes away cancels its stream, and its
slot is free at the next step.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator

import torch

from qwentts_cli.generate.batch import BatchEngine, Row
from qwentts_cli.generate.guard import RunOnGuard

_END = ("end", -1, None)
RowMaker = Callable[[], tuple[Row, RunOnGuard | None]]


class QueueFull(Exception):
    """No room: as many requests wait as the server allows."""


class Stream:
    """One request: its pieces' row makers in order; read `pieces()` from the request's thread.

    Events from the engine thread: ("frame", piece, codes), ("end", piece, why the guard stopped
    it or None), ("error", piece, exception), and a final _END.
    """

    def __init__(self, rows: Iterator[RowMaker]):
        self._rows = enumerate(rows)
        self._events: queue.Queue = queue.Queue()
        self._held = None
        self.cancelled = False
        self.slot: int | None = None
        self.piece = -1
        self.guard: RunOnGuard | None = None
        self.stopped: list[tuple[int, str]] = []  # (piece, why) for pieces the guard stopped

    # -- the request's side -----------------------------------------------------------------

    def pieces(self) -> Iterator[tuple[int, Iterator[torch.Tensor]]]:
        """(piece index, its frames) in order, as the engine makes them; a piece's error is raised."""
        while True:
            kind, piece, value = event = self._next()
            if kind == "end" and piece < 0:
                return
            if kind == "error":
                raise value
            if kind == "frame":
                self._held = event  # its frames start with this one
            else:
                self._note(piece, value)
            yield piece, self._frames(piece) if kind == "frame" else iter(())

    def _frames(self, piece: int) -> Iterator[torch.Tensor]:
        while True:
            kind, _, value = self._next()
            if kind == "frame":
                yield value
            elif kind == "error":
                raise value
            else:
                self._note(piece, value)
                return

    def _note(self, piece: int, why: str | None) -> None:
        if why is not None:
            self.stopped.append((piece, why))

    def _next(self):
        if self._held is not None:
            event, self._held = self._held, None
            return event
        return self._events.get()

    def cancel(self) -> None:
        """The client went away: the engine drops the row at its next step."""
        self.cancelled = True

    # -- the engine thread's side -----------------------------------------------------------

    def put(self, kind: str, value=None) -> None:
        self._events.put((kind, self.piece, value))

    def fail(self, error: BaseException) -> None:
        """End the stream with `error`, raised in the request's thread."""
        self.put("error", error)
        self._events.put(_END)

    def next_row(self) -> Row | None:
        """The next piece's row (its guard kept here), None when there is none; an error ends the stream."""
        try:
            self.piece, make = next(self._rows)
            row, self.guard = make()
            return row
        except StopIteration:
            self._events.put(_END)
        except Exception as e:  # the piece's own error (empty, too long), raised in the request's thread
            self.fail(e)
        return None


class Scheduler:
    """The engine thread: admits streams into slots, steps, and hands each stream its frames."""

    def __init__(self, engine: BatchEngine, max_waiting: int, on_step: Callable[[int], None] | None = None,
                 run: Callable[[Callable[[], object]], object] | None = None):
        """`run(fn)`: where the torch work of each step runs (the server's compute thread,
        compute.py); by default on this scheduler's own thread."""
        self.engine = engine
        self.run = run if run is not None else (lambda fn: fn())
        self.max_waiting = max_waiting
        self.on_step = on_step  # told the number of busy slots after each step (metrics)
        self._waiting: deque[Stream] = deque()
        self._running: dict[int, Stream] = {}
        self._wake = threading.Condition()
        self._stop = False
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="qwentts-engine", daemon=True)
        self._thread.start()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def active(self) -> int:
        return len(self._running)

    def submit(self, stream: Stream) -> Stream:
        with self._wake:
            if self.error is not None:
                raise RuntimeError("the engine stopped") from self.error
            if len(self._waiting) >= self.max_waiting and not self.engine.free:
                raise QueueFull()
            self._waiting.append(stream)
            self._wake.notify()
        return stream

    def close(self) -> None:
        with self._wake:
            self._stop = True
            self._wake.notify()
        self._thread.join(timeout=10)

    def _admit(self, stream: Stream) -> bool:
        """Put the stream's next row in a free slot; False when it has none left (it has ended)."""
        if stream.cancelled:
            stream._events.put(_END)
            return False
        row = stream.next_row()
        if row is None:
            return False
        row.tag = stream
        try:
            stream.slot = self.engine.join(row)
        except Exception as e:  # its own error (the prompt and frame cap past the context): it alone ends
            stream.fail(e)
            return False
        self._running[stream.slot] = stream
        return True

    def _loop(self) -> None:
        try:
            while True:
                with self._wake:
                    while not self._stop and not self._running and not self._waiting:
                        self._wake.wait()
                    if self._stop:
                        return
                # Admitting builds prompts and delivering admits next pieces: torch work, all of it
                # where `run` puts it, with the step.
                if self.run(self._iteration) and self.on_step is not None:
                    self.on_step(len(self._running))
        except BaseException as e:  # a broken model: every stream hears it, later submits too
            self.error = e
            for stream in list(self._running.values()) + list(self._waiting):
                stream.fail(e)

    def _iteration(self) -> bool:
        """Admit waiting streams into free slots, drop cancelled ones, step -> whether it stepped."""
        while self.engine.free:
            with self._wake:
                if not self._waiting:
                    break
                stream = self._waiting.popleft()
            self._admit(stream)
        for slot, stream in list(self._running.items()):
            if stream.cancelled:
                self.engine.cancel(slot)
                del self._running[slot]
                stream._events.put(_END)
        if not self._running:
            return False
        for event in self.engine.step():
            self._deliver(event)
        return True

    def _deliver(self, event) -> None:
        stream: Stream = event.tag
        if event.codes is not None:
            why = stream.guard.check(event.codes) if stream.guard is not None else None
            if why is not None:  # as the unbatched loop: the frame that trips the guard is not kept
                self.engine.cancel(event.slot)
                self._end_piece(stream, why)
                return
            stream.put("frame", event.codes)
        if event.last:
            self._end_piece(stream, None)

    def _end_piece(self, stream: Stream, why: str | None) -> None:
        del self._running[stream.slot]
        stream.put("end", why)
        self._admit(stream)  # its next piece takes the slot it frees
