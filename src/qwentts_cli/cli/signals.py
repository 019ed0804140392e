"""Ctrl-C, SIGTERM and SIGHUP as one orderly stop: output finalized, exit status 128 + signal."""

from __future__ import annotations

import signal
from contextlib import contextmanager


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(Exception):
    """Ctrl-C, SIGTERM or SIGHUP during synthesis; carries the exit status to use, and where the
    audio made so far was kept (if anywhere)."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status
        self.kept: str | None = None


@contextmanager
def interruptible():
    """Turn Ctrl-C, SIGTERM and SIGHUP (a closed terminal) into one orderly stop (exit 128 + signal).

    A second signal while the first is being handled is ignored, so the cleanup runs to its end.
    Outside the main thread (a Ray worker's actor thread) Python delivers no signals: there the
    process that owns the thread decides, and this does nothing.
    """
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum, frame):
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        raise Interrupted(128 + signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(130) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
