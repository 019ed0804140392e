"""Many utterances through one batched engine, handed back in order (`OrderedRows`).

Callers think in order: a text's pieces are spoken one after another, a batch job's items
are written one after another. The engine (batch.py) finishes rows in any order. This keeps
the engine's slots full from a queue of jobs and gives back each job's frames in job order:
the first job's frames as they are made (so streaming starts as soon as it would alone),
later jobs' from a buffer once the jobs before them are done.

A job's row is built only when a slot is free for it (a prompt costs a tokenization and a
few embedding lookups), and a job whose row cannot be built (empty text, text too long)
raises its error when the caller reaches it, as the unbatched loop would. The run-on guard
(guard.py) watches each row as its frames are made, so a stopped row frees its slot at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import torch

from qwentts_cli.errors import QwenTTSError
from qwentts_cli.generate.batch import BatchEngine, Row
from qwentts_cli.generate.guard import RunOnGuard


@dataclass
class Job:
    """One utterance to run: `make_row` builds its engine row and its run-on guard (or None),
    and may raise the job's error."""

    make_row: Callable[[], tuple[Row, RunOnGuard | None]]
    tag: object = None
    guard: RunOnGuard | None = None
    # Filled in as it runs:
    frames: deque = field(default_factory=deque)
    done: bool = False
    error: BaseException | None = None
    stopped: str | None = None  # why the guard stopped it
    slot: int | None = None


class OrderedRows:
    """Runs `jobs` through `engine`, as many at once as it has slots; iterate for (job, its frames) in order."""

    def __init__(self, engine: BatchEngine, jobs: Iterable[Job]):
        self.engine = engine
        self._pending = iter(jobs)
        self._queued: deque[Job] = deque()  # admitted or waiting to be read, in job order
        self._by_slot: dict[int, Job] = {}
        self._exhausted = False

    def __iter__(self) -> Iterator[tuple[Job, Iterator[torch.Tensor]]]:
        try:
            while True:
                if not self._queued:
                    self._admit()
                    if not self._queued:
                        return
                job = self._queued[0]
                yield job, self._frames_of(job)
                self._queued.popleft()
                if not job.done:  # the caller moved on before its end: stop it
                    self.engine.cancel(job.slot)
                    self._finish(job)
                job.frames.clear()
        finally:
            self.close()

    def close(self) -> None:
        """Drop every row still in the engine (the caller stopped reading)."""
        for slot in list(self._by_slot):
            self.engine.cancel(slot)
        self._by_slot.clear()

    def _frames_of(self, job: Job) -> Iterator[torch.Tensor]:
        while True:
            while job.frames:
                yield job.frames.popleft()
            if job.done:
                if job.error is not None:
                    raise job.error
                return
            self._advance()

    def _admit(self) -> None:
        """Fill free slots from the queue of jobs."""
        while self.engine.free and not self._exhausted:
            job = next(self._pending, None)
            if job is None:
                self._exhausted = True
                return
            self._queued.append(job)
            try:
                row, job.guard = job.make_row()
                row.tag = job
                job.slot = self.engine.join(row)  # refuses a prompt and frame cap past the context
            except QwenTTSError as e:  # the job's own error, raised when the caller reaches it
                job.error, job.done = e, True
                continue
            self._by_slot[job.slot] = job

    def _advance(self) -> None:
        self._admit()
        for event in self.engine.step():
            job: Job = event.tag
            if event.codes is not None:
                # As the unbatched loop: the frame that trips the guard is not kept.
                reason = job.guard.check(event.codes) if job.guard is not None else None
                if reason is not None:
                    job.stopped = reason
                    self.engine.cancel(event.slot)
                    self._finish(job)
                    continue
                job.frames.append(event.codes)
            if event.last:
                self._finish(job)

    def _finish(self, job: Job) -> None:
        job.done = True
        self._by_slot.pop(job.slot, None)
