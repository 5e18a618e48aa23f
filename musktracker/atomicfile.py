"""Files written whole or not at all: model artifacts and the PNGs the commands draw.

A file is written under a temporary name in its own folder, flushed to disk, then renamed
over the target (`os.replace`, atomic on POSIX and Windows). A process killed while writing
leaves the previous file, or none, never a truncated one; a reader (a forecast loading the
artifact a training is rewriting) sees the old file or the new one. A kill can leave the
temporary file itself; the next write of the same target removes those older than
STALE_SECONDS (a write never takes that long, and a younger one may be another process's
write in progress).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

STALE_SECONDS = 3600.0
PARTIAL_SUFFIX = ".partial"


def partial_files(path: Path) -> list[Path]:
    """The temporary files that writes of `path` use (or left behind)."""
    return sorted(path.parent.glob(f".{path.name}.*{PARTIAL_SUFFIX}"))


def _remove_stale(path: Path) -> None:
    now = time.time()
    for partial in partial_files(path):
        with contextlib.suppress(OSError):  # gone already, or not ours to remove
            if now - partial.stat().st_mtime > STALE_SECONDS:
                partial.unlink()


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[IO[bytes]]:
    """A binary file to write `path` through: it replaces `path` when the block ends
    without an error; on an error `path` is untouched and the temporary file removed.
    Missing parent folders are created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX)
    partial = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(partial, 0o666 & ~_UMASK)  # mkstemp makes it 0600; open() would not
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_atomically(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Call `write` with a binary file whose content becomes `path` once it returns."""
    with atomic_writer(path) as fh:
        write(fh)


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once, at import: setting it is not thread-safe
