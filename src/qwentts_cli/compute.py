"""One thread for all of a process's torch work, where the caller's threads are not its own.

torch's CPU kernels run OpenMP teams, one per thread that calls them, and libgomp lets a
team's workers spin between parallel regions only while it manages no more threads than there
are CPUs. With a second thread calling torch, a second team exists, and from then on every
team's workers sleep between regions and are woken for each of the hundreds of regions of a
frame: fbgemm's int8 linears took 2x as long in a second thread on 2 cores (docs/benchmark.md,
"One thread for torch"). The CLI computes on its main thread. The server (loading, engine steps,
each request's decodes, voice creation) and a Ray worker (whose model Ray Data builds on one
thread and calls on another) send every torch call to one ComputeThread instead.

Urgent work (a server request's decode: audio a client waits for) runs before the rest (the next
engine step), each kind in the order asked.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from typing import TypeVar

T = TypeVar("T")


class ComputeThread:
    """Runs functions on one long-lived thread; `run` waits for the result (and raises what the
    function raised)."""

    def __init__(self, name: str = "qwentts-compute"):
        self._jobs: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()  # first come, first served within a priority
        self._closed = False
        self._closing = threading.Lock()  # a job is queued before close() or refused after it, never lost
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def run(self, fn: Callable[[], T], urgent: bool = False) -> T:
        if threading.current_thread() is self._thread:  # already on it (a call from inside a call)
            return fn()
        future: Future = Future()
        with self._closing:
            if self._closed:
                raise CancelledError("the compute thread is closed")
            self._jobs.put((1 if urgent else 2, next(self._order), fn, future))
        return future.result()

    def _serve(self) -> None:
        while True:
            _, _, fn, future = self._jobs.get()
            if fn is None:
                break
            try:
                future.set_result(fn())
            except BaseException as e:  # the caller raises it
                future.set_exception(e)
        while not self._jobs.empty():  # queued before close, behind it: their callers hear it
            _, _, fn, future = self._jobs.get_nowait()
            if future is not None:
                future.set_exception(CancelledError("the compute thread is closed"))

    def close(self, timeout: float = 10.0) -> None:
        """Stop once the work running now ends (queued work is cancelled) and wait for that: a
        process must not exit while this thread is inside torch (that aborts it)."""
        with self._closing:
            self._closed = True
            self._jobs.put((0, next(self._order), None, None))
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
