"""The volume tests' shared fixture: a migrated database holding real posts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from musktracker.cli.main import app
from musktracker.db.session import get_engine


@pytest.fixture
def imported(
    cli_env: str, runner: CliRunner, posts_sample: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Engine]:
    """A migrated database holding the first 3,000 real posts (2022-11-01 to 2023-02-19)."""
    monkeypatch.setenv("ARTIFACT_DIR", str(tmp_path / "artifacts"))
    assert runner.invoke(app, ["migrate", "up"]).exit_code == 0
    assert runner.invoke(app, ["accounts", "add", "elonmusk"]).exit_code == 0
    result = runner.invoke(app, ["import", str(posts_sample), "--account", "elonmusk"])
    assert result.exit_code == 0, result.output
    # On PostgreSQL the foundation's import reports 0 rows inserted (executemany rowcount),
    # so it skips the bucket refresh; rebuilding makes both databases start alike.
    rebuilt = runner.invoke(app, ["buckets", "rebuild", "--account", "elonmusk"])
    assert rebuilt.exit_code == 0, rebuilt.output
    yield get_engine(cli_env)
