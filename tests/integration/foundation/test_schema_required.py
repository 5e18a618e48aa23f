"""Commands need the database at this version's schema, and say so in one line when it is
missing, mistyped, unsupported or some migrations behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from musktracker.cli.main import app
from musktracker.config import get_settings
from musktracker.db import migrate


def _error(output: str) -> str:
    return " ".join(output.split())


def test_a_schema_migrations_behind_is_named_and_status_still_reports(
    cli_env: str, runner: CliRunner
) -> None:
    """It failed deep inside: 'database error: no such table: api_keys'."""
    migrate.upgrade(cli_env, "0005_signals")
    listed = runner.invoke(app, ["apikeys", "list"])
    assert listed.exit_code == 1
    assert "is at schema revision 0005_signals: run `musktracker migrate up`" in _error(
        listed.output
    )
    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0 and "at revision 0005_signals" in status.output
    # Tables of later migrations are not read: their part waits for `migrate up`.
    assert "backtests, forecasts, sentiment and signals show once it is up to date" in " ".join(
        status.output.split()
    )
    migrate.upgrade(cli_env)
    assert runner.invoke(app, ["apikeys", "list"]).exit_code == 0


def test_a_mistyped_sqlite_path_creates_no_file(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    typo = tmp_path / "musktraker.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{typo}")
    get_settings.cache_clear()
    for command in (["accounts", "list"], ["apikeys", "list"], ["enrich", "list"], ["status"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 1, command
        assert f"database file {typo} does not exist; check DATABASE_URL" in _error(
            result.output
        ), command
    assert not typo.exists()
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("bogus://x", "DATABASE_URL='bogus://x'"),
        ("mysql://user:hunter2@db.example/mt", "DATABASE_URL='mysql://user:***@db.example/mt'"),
        ("musktracker.db", "DATABASE_URL='musktracker.db'"),
    ],
)
def test_an_unsupported_database_url_is_one_line_without_its_password(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, url: str, shown: str
) -> None:
    """A SQLAlchemy traceback (NoSuchModuleError, or a missing MySQL driver) before."""
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    result = runner.invoke(app, ["accounts", "list"])
    get_settings.cache_clear()
    assert result.exit_code == 1
    said = _error(result.output)
    assert f"invalid configuration: {shown}: use sqlite:///PATH (a file) or postgresql://" in said
    assert "hunter2" not in said and "Traceback" not in said
