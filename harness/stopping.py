"""Ctrl-C in two steps: the first lets the running epoch finish and its trial be marked, the second
stops at once. SIGTERM (what Slurm sends before it kills a job) counts as a first Ctrl-C."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Stopped(KeyboardInterrupt):
    """Raised between epochs after a first Ctrl-C; the trial it stops spends no budget."""


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_requested = threading.Event()
_signals = [0]  # how many arrived while the handler was installed


def requested() -> bool:
    return _requested.is_set()


def signals_received() -> int:
    return _signals[0]


def check() -> None:
    """Raise `Stopped` once a stop was asked for; called where bookkeeping is complete."""
    if _requested.is_set():
        raise Stopped("stopped by Ctrl-C")


@contextmanager
def graceful_interrupts(notify: Callable[[str], None]) -> Iterator[None]:
    """Install the two-step handler for SIGINT and SIGTERM while the body runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _requested.clear()
    _signals[0] = 0

    def handle(signum: int, frame: object) -> None:
        _signals[0] += 1
        if _signals[0] > 1:
            raise KeyboardInterrupt
        _requested.set()
        notify("stopping after the current epoch; press Ctrl-C again to stop at once")

    with handlers_kept():
        for sig in STOP_SIGNALS:
            signal.signal(sig, handle)
        yield


@contextmanager
def handlers_kept() -> Iterator[None]:
    """Put the SIGINT and SIGTERM handlers back after the body: a library that installs its own (`ray.init`
    does, for SIGTERM) would otherwise turn a first SIGTERM into an exit that marks no trial."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    kept = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in kept.items():
            signal.signal(sig, handler)


def stop_at_every_interrupt() -> None:
    """In a process its driver stops by interrupting it (a cancelled Ray task), make every SIGINT a first Ctrl-C:
    the epoch under way ends, its trial is marked and no other trial starts. The driver repeats its cancel until
    the task ends, since Ray loses one that reaches a task still starting, so no count is kept; and the handler
    stays once the task has ended, where a late repeat would otherwise raise inside Ray's own bookkeeping."""
    if threading.current_thread() is threading.main_thread():
        _requested.clear()
        signal.signal(signal.SIGINT, lambda signum, frame: _requested.set())
