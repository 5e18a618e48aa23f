"""What every command needs: settings, logging, the database, a console and one way to
turn expected errors into a clear message and exit code instead of a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from musktracker.accounts import AccountError
from musktracker.cli import interrupts
from musktracker.config import Settings, SettingsError, get_settings
from musktracker.db.session import DatabaseNotReadyError, get_engine, require_schema
from musktracker.enrich.events import EventError
from musktracker.forecasting.errors import ForecastError
from musktracker.ingest.archive import ArchiveError
from musktracker.logging import configure_logging
from musktracker.models.base import ModelError
from musktracker.utc import NaiveDatetimeError, OutOfRangeError, TimeFormatError

# emoji=False: to Rich, ":x:" in "post:x:123" or ":moon:" in "cashtag:MOON:..." is an emoji
# code, so event keys, names and quoted values came out as emoji.
console = Console(soft_wrap=True, emoji=False)
err_console = Console(stderr=True, soft_wrap=True, emoji=False)

WIDE_TABLE_COLUMNS = 120
"""Wide enough for every column of the train and evaluate-forecasts tables."""

EXIT_BAD_INPUT = 1

ONE_ACCOUNT = typer.Option(
    None, "--account", "-a",
    help="Tracked account (default: the only one tracked; with several, name one).",
)
"""`--account` of the commands that work on one account (`accounts.resolve_account`)."""

EXPECTED_ERRORS: tuple[type[Exception], ...] = (
    AccountError,
    ArchiveError,
    EventError,
    NaiveDatetimeError,
    OutOfRangeError,
    TimeFormatError,
    SettingsError,
    DatabaseNotReadyError,
    ForecastError,
    ModelError,
)

P = ParamSpec("P")
R = TypeVar("R")


def settings() -> Settings:
    """Validated settings, with logging configured from them."""
    current = get_settings()
    configure_logging(current.log_level, current.log_format)
    return current


def database(require: bool = True) -> Engine:
    """The configured database engine; by default it must already be migrated."""
    engine = get_engine(settings().database_url)
    if require:
        require_schema(engine)
    return engine


def noun(count: float, singular: str, plural: str | None = None) -> str:
    """The word for `count` things, so output reads "1 event read", not "1 events read";
    `plural` for the irregular ones ("classes", or a verb: noun(n, "is", "are"))."""
    return singular if count == 1 else plural or singular + "s"


def print_wide(table: Table) -> None:
    """Print a table at least WIDE_TABLE_COLUMNS wide, so no column is cut when the output
    is piped (Rich then assumes 80 columns); emoji off, as on `console`."""
    Console(width=max(console.width, WIDE_TABLE_COLUMNS), emoji=False).print(table)


def fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    """Print an error and return the exit to raise. The message is escaped: Rich would read
    `[a-z0-9_.-]` in a quoted pattern or value as markup and drop it."""
    err_console.print(f"[bold red]error:[/bold red] {escape(message)}", highlight=False)
    return typer.Exit(code)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Report expected errors as one clear line and exit 1; nothing was written. Ctrl-C
    and SIGTERM stop the command with one line and exit 130 or 143 (cli/interrupts.py)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            with interrupts.sigterm_interrupts():
                return func(*args, **kwargs)
        except EXPECTED_ERRORS as exc:
            raise fail(str(exc)) from None
        except OperationalError as exc:
            raise fail(f"database error: {exc.orig}") from None
        except KeyboardInterrupt as exc:
            err_console.print(interrupts.INTERRUPTED.format(how=interrupts.describe(exc)),
                              highlight=False)
            raise typer.Exit(interrupts.exit_code(exc)) from None

    return wrapper
