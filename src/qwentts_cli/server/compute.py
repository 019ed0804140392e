"""One thread for all of the server's torch work: loading, engine steps, decodes, voice creation.

torch's CPU kernels run OpenMP teams, one per thread that calls them, and libgomp lets a
team's workers spin between parallel regions only while it manages no more threads than there
are CPUs. With a second thread calling torch, a second team exists, and from then on every
team's workers sleep between regions and are woken for each of the hundreds of regions of a
frame: fbgemm's int8 linears took 2x as long in a second thread on 2 cores, and the server,
which generated in one thread and decoded in others, ran a lone request at RTF 2.5 where the
CLI runs 1.7 (docs/benchmark.md, "One thread for torch"). So the server sends every torch call
to this one thread, and torch keeps all of its threads there.

Urgent work (a request's decode: audio a client waits for) runs before the rest (the next
engine step), each kind in the order asked.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

T = TypeVar("T")


class ComputeThread:
    """Runs functions on one long-lived thread; `run` waits for the result (and raises what the
    function raised)."""

    def __init__(self, name: str = "qwentts-compute"):
        self._jobs: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()  # first come, first served within a priority
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def run(self, fn: Callable[[], T], urgent: bool = False) -> T:
        if threading.current_thread() is self._thread:  # already on it (a call from inside a call)
            return fn()
        future: Future = Future()
        self._jobs.put((0 if urgent else 1, next(self._order), fn, future))
        return future.result()

    def _serve(self) -> None:
        while True:
            _, _, fn, future = self._jobs.get()
            if fn is None:
                return
            try:
                future.set_result(fn())
            except BaseException as e:  # the caller raises it
                future.set_exception(e)

    def close(self) -> None:
        self._jobs.put((2, next(self._order), None, None))  # after whatever is queued
