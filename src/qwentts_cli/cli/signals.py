"""Ctrl-C and SIGTERM as one orderly stop: output finalized, exit status 128 + signal."""

from __future__ import annotations

import signal
from contextlib import contextmanager


class Interrupted(Exception):
    """Ctrl-C or SIGTERM during synthesis; carries the exit status to use."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


@contextmanager
def interruptible():
    """Turn SIGTERM into the same orderly stop as Ctrl-C (files finalized, exit 128 + signal)."""

    def on_term(signum, frame):
        raise Interrupted(128 + signum)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
