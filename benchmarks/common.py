"""What every benchmark shares, so their tables can be quoted and their options trusted: where
the shared data is, the machine and data line the docs cite, one command-line convention
(defaults shown in --help, bad values refused in one line naming the option) and a scratch
PostgreSQL schema.

Every script starts by putting the repository on sys.path: run as a file (`python
benchmarks/NAME.py`, as README and docs write them) Python puts benchmarks/ there instead, and
`benchmarks.common` would not import."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import create_engine, text

from musktracker.db.session import get_engine

if TYPE_CHECKING:  # MLflow is slow to import: only the sentiment benchmarks load it
    from musktracker.sentiment.tracking import Tracker

REPO = Path(__file__).resolve().parents[1]
# The same variable and default as the tests, so both read one copy of the data.
SHARED_DATA = Path(os.environ.get("MUSKTRACKER_SHARED_DATA", REPO.parent / "shared" / "data"))
POSTS = SHARED_DATA / "elonmusk" / "posts.csv"
SENTIMENT_DATA = SHARED_DATA / "sentiment"
POSTGRES_URL = os.environ.get(
    "MUSKTRACKER_TEST_POSTGRES_URL",
    "postgresql+psycopg://musktracker:musktracker@localhost:5432/musktracker_test",
)
DATABASES = ("SQLite", "PostgreSQL")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Keeps the module docstring's lines and lists, and states every default."""


def make_parser(doc: str | None) -> argparse.ArgumentParser:
    """The benchmark's parser, its description the module docstring as written."""
    return argparse.ArgumentParser(description=doc, formatter_class=_HelpFormatter)


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= `minimum` (0 used to end in a traceback or, worse, a
    table of zeros or of the whole file)."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {number}")
        return number

    return parse


positive_int = at_least(1)


def data_file(value: str) -> Path:
    """An argparse type: a file that exists (a missing one used to end in a traceback)."""
    path = Path(value)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {value}")
    return path


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The processor's name: the docs must say which machine measured a number."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine() -> str:
    """One line naming the CPU, its cores, the memory and the load: what a table depends on."""
    usable = len(os.sched_getaffinity(0))
    cores = os.cpu_count()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    return (
        f"machine: {cpu_model()}, {cores} cores"
        + (f" ({usable} usable)" if usable != cores else "")
        + f", {memory:.0f} GiB, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}; load average (1, 5, 15 min) {load}"
    )


def count_rows(path: Path) -> int:
    """Data lines of a file with one header line and one record a line."""
    with path.open("rb") as handle:
        return sum(1 for _ in handle) - 1


def existing_tracker(setting: str, model_name: str) -> Tracker | None:
    """The MLflow store `setting` names, or None when it is a local folder that does not
    exist: opening one creates it, and a benchmark must not leave an empty store behind (with
    the default ./mlruns, in the working tree) only to find no model in it."""
    local = "://" not in setting and not setting.startswith("sqlite:")
    if local and not Path(setting).expanduser().is_dir():
        return None
    from musktracker.sentiment.tracking import Tracker

    return Tracker(setting, model_name)


def load_posts(path: Path) -> pd.DatetimeIndex:
    """The post times of an archive CSV, in order, as UTC timestamps."""
    frame = pd.read_csv(path, usecols=["created_at"])
    return pd.DatetimeIndex(pd.to_datetime(frame["created_at"], utc=True)).sort_values()


def posts_only_benchmark(doc: str | None, argv: list[str] | None) -> pd.DatetimeIndex:
    """The start of a benchmark whose one option is --posts: parse it, load the post times
    and print the machine and data lines its tables are quoted with."""
    parser = make_parser(doc)
    parser.add_argument("--posts", type=data_file, default=str(POSTS), help="post times (CSV)")
    path = Path(parser.parse_args(argv).posts)
    posts = load_posts(path)
    print(machine())
    print(data_line(path, len(posts), "posts") + "\n")
    return posts


def data_line(path: Path, rows: int, what: str = "rows") -> str:
    """Which data produced the table, and how much of it."""
    return f"data: {path.resolve()} ({rows:,} {what})"


@contextmanager
def postgres_schema(base_url: str, prefix: str = "bench") -> Iterator[str]:
    """A fresh schema in `base_url`'s database, dropped afterwards; yields a URL whose
    search_path is that schema (its cached engine disposed before the drop). Raises if the
    server cannot be reached. The tests' PostgreSQL databases are made the same way."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in base_url else "?"
        url = f"{base_url}{sep}options=-csearch_path%3D{schema}"
        try:
            yield url
        finally:
            get_engine(url).dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@contextmanager
def scratch_database(kind: str, postgres_url: str) -> Iterator[str | None]:
    """A fresh, empty database of `kind` (one of DATABASES) that is removed afterwards: a
    SQLite file in a temporary folder, never in the working tree, or a PostgreSQL schema.
    Yields None, with a note on stderr, when the PostgreSQL server cannot be reached, so a
    benchmark still reports SQLite."""
    with ExitStack() as stack:
        if kind == "SQLite":
            folder = stack.enter_context(tempfile.TemporaryDirectory())
            url: str | None = f"sqlite:///{folder}/bench.db"
            stack.callback(get_engine(url).dispose)
        else:
            try:
                url = stack.enter_context(postgres_schema(postgres_url))
            except Exception as exc:  # no server: its rows are left out, with the reason
                reason = str(exc).splitlines()[0] if str(exc) else ""
                print(f"{kind} skipped: {type(exc).__name__}: {reason}", file=sys.stderr)
                url = None
        yield url
