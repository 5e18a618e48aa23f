"""Output files of the volume commands (`--plot`, `--report`), checked before any work.

A PNG is written only after the forecast or backtest has been computed and stored, so a
path that cannot be written must be refused first: otherwise the command fails with the
database already changed. Missing parent directories are created when the file is written
(as for every file MuskTracker writes: plots, artifacts, sentiment reports); the check
makes sure they can be.
"""

from __future__ import annotations

import os
from pathlib import Path

from musktracker.forecasting.errors import ForecastError


def check_writable(path: Path, option: str) -> None:
    """Raise a ForecastError naming `option` unless `path` can be written: it is not a
    directory, an existing file is writable, and its nearest existing ancestor is a
    writable directory (the missing ones in between are created when the file is saved)."""
    shown = f"{option} {str(path)!r}"
    if path.is_dir():
        raise ForecastError(f"{shown}: is a directory")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise ForecastError(f"{shown}: the file is not writable")
        return
    ancestor = path.parent
    while not ancestor.exists():
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ForecastError(f"{shown}: {str(ancestor)!r} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ForecastError(f"{shown}: the directory {str(ancestor)!r} is not writable")


def check_png(path: Path, option: str) -> None:
    """Raise a ForecastError naming `option` unless `path` is a PNG file name that can be
    written (see check_writable): checked before any work, so a typo costs no backtest."""
    if path.suffix.lower() != ".png":
        raise ForecastError(f"{option} {str(path)!r}: the picture is a PNG file (name it *.png)")
    check_writable(path, option)


def write_error(path: Path, option: str, exc: OSError) -> ForecastError:
    """The one-line error of a PNG that could not be saved after all (disk full, say)."""
    reason = exc.strerror or str(exc)
    return ForecastError(f"{option} {str(path)!r}: could not be written ({reason})")
