"""One thread for all of the server's torch work: loading, engine steps, decodes, voice creation.

torch's CPU kernels run OpenMP teams, one per thread that calls them, and libgomp lets a
team's workers spin between parallel regions only while it manages no more threads than there
are CPUs. With a second thread calling torch, a second team exists, and from then on every
team's workers sleep between regions and are woken for each of the hundreds of regions of a
frame: fbgemm's int8 linears took 2x as long in a second thread on 2 cores, and the server,
which generated in one thread and decoded in others, ran a lone request at RTF 2.4 where the
CLI runs 1.5 (docs/benchmark.md, "One thread for torch"). So the server sends every torch call
to this one thread, in the order asked, and torch keeps all of its threads there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class ComputeThread:
    """Runs functions on one long-lived thread, first come first served; `run` waits for the result
    (and raises what the function raised)."""

    def __init__(self, name: str = "qwentts-compute"):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._ident: int | None = None

    def run(self, fn: Callable[[], T]) -> T:
        if threading.get_ident() == self._ident:  # already on it (a call from inside a call)
            return fn()
        return self._pool.submit(self._on_thread, fn).result()

    def _on_thread(self, fn: Callable[[], T]) -> T:
        self._ident = threading.get_ident()
        return fn()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
