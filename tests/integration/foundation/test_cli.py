from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text
from typer.testing import CliRunner

from musktracker.cli import runtime
from musktracker.cli.main import app
from musktracker.config import get_settings
from musktracker.db import migrate
from musktracker.db.models import ExogenousEvent, RawTweet
from musktracker.db.session import get_engine, session_scope
from tests.conftest import REPO

MODULES = ["migrate", "ingest", "enrich", "train", "forecast", "accounts", "archive", "status"]


def _count(url: str, model: type) -> int:
    with session_scope(get_engine(url)) as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_accounts_import_status_and_events(
    cli_env: str, runner: CliRunner, posts_sample: Path, tmp_path: Path
) -> None:
    assert runner.invoke(app, ["migrate", "up"]).exit_code == 0
    current = runner.invoke(app, ["migrate", "current"]).output
    assert f"current: {migrate.head_revision(cli_env)}" in current and "up to date" in current
    added = runner.invoke(app, ["accounts", "add", "@ElonMusk", "--id", "44196397"])
    assert added.exit_code == 0 and "tracking @elonmusk" in added.output
    dup = runner.invoke(app, ["accounts", "add", "elonmusk"])
    assert dup.exit_code == 1 and "already tracked" in dup.output
    bad = runner.invoke(app, ["accounts", "add", "not a handle!"])
    assert bad.exit_code == 1 and "'not a handle!' is not a valid X handle" in bad.output
    assert "@elonmusk" in runner.invoke(app, ["accounts", "list"]).output

    corrupt = tmp_path / "corrupt.csv"
    lines = posts_sample.read_text().splitlines()
    lines[5] = "x," + lines[5].split(",")[1]
    corrupt.write_text("\n".join(lines) + "\n")
    failed = runner.invoke(app, ["import", str(corrupt), "--account", "elonmusk"])
    assert failed.exit_code == 1 and "line 6: tweet_id 'x'" in failed.output
    assert _count(cli_env, RawTweet) == 0
    skipped = runner.invoke(app, ["import", str(corrupt), "-a", "elonmusk", "--skip-bad"])
    assert skipped.exit_code == 0 and "skipped 1 bad line (" in skipped.output
    done = runner.invoke(app, ["import", str(posts_sample), "-a", "elonmusk"])
    assert done.exit_code == 0 and "1 new, 2999 already stored" in done.output

    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0
    assert "3,000" in status.output and "2022-11-01 13:54" in status.output

    event = ["enrich", "add-event", "--name", "launch", "--start", "2022-11-05T00:00:00Z"]
    bad_intensity = runner.invoke(
        app, [*event, "--end", "2022-11-05T02:00:00Z", "--intensity", "2"]
    )
    assert (
        bad_intensity.exit_code == 1 and "--intensity 2.0 is outside 0..1" in bad_intensity.output
    )
    naive = runner.invoke(app, [*event, "--end", "2022-11-05 02:00", "--intensity", "0.5"])
    assert naive.exit_code == 1 and "--end '2022-11-05 02:00' has no time zone" in naive.output
    assert _count(cli_env, ExogenousEvent) == 0
    ok = runner.invoke(app, [*event, "--end", "2022-11-05T02:00:00Z", "--intensity", "0.5"])
    assert ok.exit_code == 0 and "added event 1" in ok.output
    assert "launch" in runner.invoke(app, ["enrich", "list"]).output
    assert runner.invoke(app, ["enrich", "delete", "1"]).exit_code == 0

    rebuilt = runner.invoke(app, ["buckets", "rebuild", "--kinds", "original,repost"])
    assert rebuilt.exit_code == 0 and "rules 'all'; 'original,repost'" in rebuilt.output
    wrong = runner.invoke(app, ["buckets", "rebuild", "--kinds", "tweets"])
    assert wrong.exit_code == 1 and "'tweets' is not a post kind" in wrong.output


def test_buckets_rebuild_without_accounts_says_so(cli_env: str, runner: CliRunner) -> None:
    assert runner.invoke(app, ["migrate", "up"]).exit_code == 0
    result = runner.invoke(app, ["buckets", "rebuild"])
    assert result.exit_code == 0 and "no accounts tracked yet" in result.output


def test_commands_before_migration_say_what_to_do(cli_env: str, runner: CliRunner) -> None:
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 1 and "run `musktracker migrate up` first" in result.output


def test_non_utc_timezone_is_refused(
    cli_env: str, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIMEZONE", "America/New_York")
    get_settings.cache_clear()
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 1 and "TIMEZONE must be 'UTC'" in result.output


@pytest.mark.parametrize("module", MODULES)
def test_every_module_entry_point_explains_itself(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", f"musktracker.cli.{module}", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout and "Example" in result.stdout


def test_quickstart_in_a_fresh_directory(posts_sample: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    exe = Path(sys.executable).with_name("musktracker")
    for _ in range(2):  # a second run is safe and adds nothing
        result = subprocess.run(
            [str(exe), "quickstart", "--data", str(posts_sample)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            env={**env, "COLUMNS": "120"},
        )
        assert result.returncode == 0, result.stderr
    assert "0 new, 3000 already stored" in result.stdout
    url = f"sqlite:///{tmp_path / 'musktracker.db'}"
    assert migrate.current_revision(url) == migrate.head_revision(url)
    assert _count(url, RawTweet) == 3000


def test_event_text_is_shown_as_written_and_ids_beyond_bigint_are_unknown(
    cli_env: str, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime.console, "width", 200)  # a wide terminal: no wrapped cells
    assert runner.invoke(app, ["migrate", "up"]).exit_code == 0
    assert runner.invoke(app, ["accounts", "add", "elonmusk"]).exit_code == 0
    times = ["--start", "2025-01-29T21:00:00Z", "--end", "2025-01-29T23:00:00Z"]
    options = ["--intensity", "0.8", "--category", "[red]market[/red]", "--account", "elonmusk"]
    # "[/]" is Rich markup and ":moon:" an emoji code: both are shown as written
    added = runner.invoke(app, ["enrich", "add-event", "--name", "[/] :moon:", *times, *options])
    assert added.exit_code == 0, added.output
    assert "added event 1: [/] :moon:" in added.output
    listed = runner.invoke(app, ["enrich", "list"])
    assert listed.exit_code == 0, listed.output
    assert "[red]market[/red]" in listed.output and "@elonmusk" in listed.output
    for huge in ("9223372036854775808", "99999999999999999999"):
        gone = runner.invoke(app, ["enrich", "delete", huge])
        assert gone.exit_code == 1 and f"error: no event with id {huge}" in gone.output
        assert "Traceback" not in gone.output
    assert _count(cli_env, ExogenousEvent) == 1
    deleted = runner.invoke(app, ["enrich", "delete", "1"])
    assert deleted.exit_code == 0 and "deleted event 1: [/] :moon:" in deleted.output


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--data", "missing.csv"], "error: --data 'missing.csv': No such file or directory"),
        (["--data", "."], "error: --data '.' is a directory, not a posts file"),
        (["--account", "@Elon Musk"], "error: --account: username '@Elon Musk' is not a valid"),
        (["--reports", "afile"], "error: --reports 'afile' is a file, not a directory"),
        (["--reports", "afile/plots"], "error: --reports 'afile/plots': Not a directory"),
    ],
)
def test_quickstart_refuses_bad_options_before_writing_anything(
    cli_env: str,
    runner: CliRunner,
    posts_sample: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    options: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("")
    result = runner.invoke(app, ["quickstart", "--data", str(posts_sample), *options])
    assert result.exit_code == 1 and message in result.output, result.output
    assert migrate.current_revision(cli_env) is None
    assert not inspect(get_engine(cli_env)).get_table_names()


def test_status_on_a_missing_sqlite_file_does_not_create_it(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "typo.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["status"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert f"error: database file {path} does not exist; check DATABASE_URL" in result.output
    assert not path.exists()


@pytest.mark.parametrize(
    ("stamp", "advice"),
    [
        (None, "at revision 0001 (run `musktracker migrate up`)"),
        ("0099_future", "at revision 0099_future (migrated by a newer MuskTracker"),
    ],
)
def test_status_names_a_schema_that_is_not_this_versions_newest(
    cli_env: str, runner: CliRunner, stamp: str | None, advice: str
) -> None:
    migrate.upgrade(cli_env, "0001")
    if stamp is not None:
        with session_scope(get_engine(cli_env)) as session:
            session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": stamp})
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0 and advice in result.output, result.output


def test_quickstart_script_reads_a_relative_posts_csv_from_the_callers_directory(
    posts_sample: Path, tmp_path: Path
) -> None:
    repo, caller = tmp_path / "repo", tmp_path / "caller"
    (repo / "scripts").mkdir(parents=True)
    (repo / ".venv" / "bin").mkdir(parents=True)
    caller.mkdir()
    shutil.copy(REPO / "scripts" / "quickstart.sh", repo / "scripts")
    # Installing is not what this test is about: the installed command is linked instead.
    (repo / "scripts" / "install.sh").write_text("true\n")
    (repo / ".venv" / "bin" / "musktracker").symlink_to(
        Path(sys.executable).with_name("musktracker")
    )
    shutil.copy(posts_sample, caller / "mine.csv")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run(
        ["bash", str(repo / "scripts" / "quickstart.sh")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=caller,
        env={**env, "MUSKTRACKER_POSTS_CSV": "mine.csv", "COLUMNS": "120"},
    )
    assert result.returncode == 0, result.stderr
    assert f"importing {caller / 'mine.csv'}" in result.stdout
