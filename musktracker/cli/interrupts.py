"""How a command stops on Ctrl-C (SIGINT) and on SIGTERM (`kill`, `docker stop`, systemd).

Both raise KeyboardInterrupt in the main thread, so the same clean-up runs for either:
open transactions roll back, a backtest's worker processes are ended, temporary files are
removed. The command then prints one line saying so and exits with 128 + the signal's
number (130 for SIGINT, 143 for SIGTERM), as shells report a process a signal stopped.

Before, Ctrl-C ended a command silently with code 130 (Typer's own handling: no word on
what was kept), and SIGTERM killed it on the spot with no message and no clean-up: a
backtest's worker processes went on fitting windows for a parent that was gone.

Commands with a stop of their own (`ingest --stream`, `serve`, `worker`, `run`) install
their handlers inside this one and restore it when they return.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

EXIT_SIGINT = 128 + signal.SIGINT
EXIT_SIGTERM = 128 + signal.SIGTERM

INTERRUPTED = (
    "interrupted ({how}): nothing half-done was kept (work not yet committed was rolled "
    "back); run the same command again to finish"
)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised as the exception Ctrl-C raises so that the same clean-up runs."""

    exit_code = EXIT_SIGTERM


def exit_code(exc: KeyboardInterrupt) -> int:
    """The exit code of a command stopped by `exc`: 143 for SIGTERM, else 130."""
    return EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT


def describe(exc: KeyboardInterrupt) -> str:
    """What stopped the command, as the one-line message names it."""
    return "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"


def _raise_terminated(_signum: int, _frame: FrameType | None) -> None:
    raise Terminated


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """While the block runs, SIGTERM raises Terminated (in the main thread only: Python
    delivers signals there, and only the main thread may install a handler)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
