"""`musktracker accounts remove`: what it shows, when it refuses, and that it deletes every row
referring to the account (found by reflecting the real database's foreign keys, not from a
list) and its model artifact files, leaving the other accounts exactly as they were. Real
CLI, real SQLite and PostgreSQL, real posts, real model fits."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Delete, event, inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from musktracker import account_removal
from musktracker import accounts as account_store
from musktracker.account_removal import remove_account
from musktracker.accounts import AccountError, add_account
from musktracker.cli import accounts as accounts_cli
from musktracker.cli.main import app
from musktracker.db import migrate
from musktracker.db.models import Account, IngestState, RawTweet, SentimentPrediction
from musktracker.db.session import get_engine, session_scope
from musktracker.signals.sources.base import write_checkpoint
from tests.conftest import REPO
from tests.shifted_posts import shifted_copy

AS_OF = "2023-02-01T00:00:00+00:00"
VICTIM, OTHER = "spacex", "elonmusk"
Snapshot = dict[str, tuple[list[str], list[tuple[Any, ...]]]]


def _flat(output: str) -> str:
    return " ".join(output.split())


def _run(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def account_keys(engine: Engine) -> dict[str, tuple[str, str | None]]:
    """Every table whose foreign key points at accounts.id, as the database itself says:
    table -> (column, ON DELETE rule)."""
    inspector = inspect(engine)
    found = {}
    for table in inspector.get_table_names():
        for key in inspector.get_foreign_keys(table):
            if key["referred_table"] == "accounts":
                (column,) = key["constrained_columns"]
                found[table] = (column, (key.get("options") or {}).get("ondelete"))
    return found


def snapshot(engine: Engine) -> Snapshot:
    """Every row of every table, in a stable order, with the column names."""
    tables: Snapshot = {}
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            result = conn.execute(text(f'SELECT * FROM "{table}"'))
            tables[table] = (list(result.keys()), sorted(map(tuple, result), key=repr))
    return tables


def without(table: tuple[list[str], list[tuple[Any, ...]]], column: str, value: int) -> list[
    tuple[Any, ...]
]:
    """A snapshot's rows of one table, but those whose `column` is `value`."""
    columns, rows = table
    index = columns.index(column)
    return [r for r in rows if r[index] != value]


def account_id(engine: Engine, username: str) -> int:
    with session_scope(engine) as session:
        return session.scalars(select(Account.id).where(Account.username == username)).one()


def rows_of(engine: Engine, account: int) -> dict[str, int]:
    """Rows per account-referring table that name `account`."""
    counts = {}
    with engine.connect() as conn:
        for table, (column, _) in account_keys(engine).items():
            counts[table] = conn.execute(
                text(f'SELECT count(*) FROM "{table}" WHERE "{column}" = :a'), {"a": account}
            ).scalar_one()
    return counts


@pytest.fixture
def two_accounts(
    cli_env: str, runner: CliRunner, posts_sample: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Engine]:
    """Two accounts with a row in every table that refers to accounts: real posts, buckets,
    features, a backtest (model fits with artifacts), a forecast, regime shifts, an
    account-only exogenous event, an ingestion checkpoint and a sentiment prediction; plus a
    global exogenous event and the signals post checkpoint at the newest post."""
    monkeypatch.setenv("ARTIFACT_DIR", str(tmp_path / "artifacts"))
    _run(runner, "migrate", "up")
    # a post has one author: the second account's posts are the same real posts 3 h earlier,
    # with the ids those times give (`import` refuses another account's posts)
    archives = {OTHER: posts_sample, VICTIM: shifted_copy(posts_sample, tmp_path / "spacex.csv")}
    for name in (OTHER, VICTIM):
        _run(runner, "accounts", "add", name)
        _run(runner, "import", str(archives[name]), "--account", name)
        _run(runner, "buckets", "rebuild", "--account", name)
        _run(runner, "train", "--account", name, "--model", "hour_of_day_mean",
             "--backtest-windows", "2", "--train-days", "14", "--samples", "50",
             "--as-of", AS_OF, "--workers", "1")
        _run(runner, "forecast", "--account", name, "--model", "seasonal_naive_daily",
             "--as-of", AS_OF, "--samples", "50", "--json")
        _run(runner, "regimes", "--account", name)
        _run(runner, "enrich", "add-event", "--name", f"{name} launch", "--account", name,
             "--start", "2022-11-05T00:00:00Z", "--end", "2022-11-06T00:00:00Z",
             "--intensity", "0.5")
    _run(runner, "enrich", "add-event", "--name", "for everyone", "--intensity", "0.5",
         "--start", "2022-11-10T00:00:00Z", "--end", "2022-11-11T00:00:00Z")
    engine = get_engine(cli_env)
    with session_scope(engine) as session:
        for account in session.scalars(select(Account)):
            session.add(IngestState(account_id=account.id, endpoint="user_tweets",
                                    newest_id="1"))
            session.add(SentimentPrediction(
                account_id=account.id, tweet_id=1, label="neutral", p_negative=0.1,
                p_neutral=0.8, p_positive=0.1, confidence=0.8, n_words=3, model_version="1"))
        newest = session.scalar(select(RawTweet.id).order_by(RawTweet.id.desc()).limit(1))
        write_checkpoint(session, "posts", str(newest))
    yield engine


def _artifacts(root: Path, account: int) -> list[Path]:
    return sorted((root / str(account)).rglob("*.pkl"))


def test_remove_refuses_then_deletes_every_row_and_artifact_of_that_account_only(
    two_accounts: Engine, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = two_accounts
    victim, other = account_id(engine, VICTIM), account_id(engine, OTHER)
    keys = account_keys(engine)
    # The schema the migrations built: every reference to accounts cascades, and this
    # fixture has rows in each (a new per-account table must be added to it).
    assert {t for t, (_, rule) in keys.items() if rule != "CASCADE"} == set()
    assert set(keys) == {t.name for t, _ in account_removal.account_tables()}
    assert [t for t, n in rows_of(engine, victim).items() if n == 0] == []
    root = tmp_path / "artifacts"
    victim_files, other_files = _artifacts(root, victim), _artifacts(root, other)
    assert victim_files and other_files
    before = snapshot(engine)

    # No terminal and no --yes: refused at once, in one line, with nothing changed.
    refused = runner.invoke(app, ["accounts", "remove", VICTIM])
    assert refused.exit_code == 1
    assert "error: not removing @spacex: no terminal to confirm on; add --yes" in _flat(
        refused.output)
    # The preview came first: counts per kind, from the database.
    assert "3,000 posts" in refused.output
    for table, n in rows_of(engine, victim).items():  # one of a kind in the singular
        one, several = account_removal.ROW_KINDS[table]
        assert f"{n:,} {one if n == 1 else several}\n" in refused.output, table
    assert f"{len(victim_files)} model artifact files" in refused.output
    assert snapshot(engine) == before

    # A terminal, and the answer is no (or nothing): nothing changed either.
    monkeypatch.setattr(accounts_cli, "stdin_is_terminal", lambda: True)
    for answer in ("n\n", "\n"):
        declined = runner.invoke(app, ["accounts", "remove", VICTIM], input=answer)
        assert declined.exit_code == 1, declined.output
        assert "Remove @spacex and all of the above? [y/N]" in declined.output
        assert "not removing @spacex: not confirmed; nothing was changed" in _flat(
            declined.output)
    assert snapshot(engine) == before and _artifacts(root, victim) == victim_files

    # A failure after the cascade: the transaction rolls all of it back.
    def broken(_conn: Any, statement: Any, *_args: Any) -> None:
        if isinstance(statement, Delete) and getattr(statement.table, "name", "") == "accounts":
            raise AccountError("simulated failure after the delete")

    event.listen(engine, "after_execute", broken)
    try:
        failed = runner.invoke(app, ["accounts", "remove", VICTIM, "--yes"])
    finally:
        event.remove(engine, "after_execute", broken)
    assert failed.exit_code == 1 and "simulated failure" in failed.output
    assert snapshot(engine) == before and _artifacts(root, victim) == victim_files

    # Confirmed: the account and every row referring to it are gone, its artifacts and folder
    # too; the other account and everything else are as they were.
    done = runner.invoke(app, ["accounts", "remove", "@SpaceX"], input="y\n")
    assert done.exit_code == 0, done.output
    assert "removed @spacex: 3,000 posts" in _flat(done.output)
    assert rows_of(engine, victim) == dict.fromkeys(keys, 0)
    assert not (root / str(victim)).exists()
    assert _artifacts(root, other) == other_files
    after = snapshot(engine)
    for table, (_columns, rows) in before.items():
        if table in keys:
            rows = without(before[table], keys[table][0], victim)
        elif table == "accounts":
            rows = without(before[table], "id", victim)
        assert after[table][1] == rows, table
    events = after["exogenous_events"]
    assert [r for r in events[1] if r[events[0].index("account_id")] is None]  # global: kept
    listed = runner.invoke(app, ["accounts", "list"]).output
    assert "@elonmusk" in listed and "@spacex" not in listed

    # Gone means unknown now: the usual message.
    again = runner.invoke(app, ["accounts", "remove", VICTIM, "--yes"])
    assert again.exit_code == 1
    assert "account 'spacex' is not tracked" in _flat(again.output)


def test_unknown_or_malformed_handle_is_refused_before_any_question(
    cli_env: str, engine: Engine, runner: CliRunner
) -> None:
    with session_scope(engine) as session:
        add_account(session, "elonmusk")
    unknown = runner.invoke(app, ["accounts", "remove", "nobody"])
    assert unknown.exit_code == 1
    assert _flat(unknown.output) == (
        "error: account 'nobody' is not tracked; add it with `musktracker accounts add nobody`")
    bad = runner.invoke(app, ["accounts", "remove", "not a handle!", "--yes"])
    assert bad.exit_code == 1 and "is not a valid X handle" in bad.output
    help_text = runner.invoke(app, ["accounts", "remove", "--help"])
    assert help_text.exit_code == 0 and "--yes" in help_text.output
    assert [a.username for a in _accounts(engine)] == ["elonmusk"]


def test_one_of_a_kind_is_named_in_the_singular(
    cli_env: str, engine: Engine, runner: CliRunner, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ARTIFACT_DIR", str(tmp_path))
    with session_scope(engine) as session:
        solo = add_account(session, "solo")
        session.add(RawTweet(account_id=solo.id, tweet_id="1", kind="original", source="test",
                             created_at=datetime(2024, 1, 1, tzinfo=UTC)))
    (tmp_path / str(solo.id)).mkdir()
    (tmp_path / str(solo.id) / "model.pkl").write_bytes(b"x" * 1000)
    (tmp_path / str(solo.id) / "notes.txt").write_text("mine")
    removed = runner.invoke(app, ["accounts", "remove", "solo", "--yes"])
    assert removed.exit_code == 0, removed.output
    shown = _flat(removed.output)
    assert "removed @solo: 1 post, 1 model artifact file (0.0 MB)" in shown
    assert "still holds 1 file that is not a model artifact" in shown


def _accounts(engine: Engine) -> list[Account]:
    with session_scope(engine) as session:
        return list(session.scalars(select(Account).order_by(Account.id)))


def test_a_handle_removed_and_added_again_while_confirming_is_not_removed(
    engine: Engine,
) -> None:
    with session_scope(engine) as session:
        first = add_account(session, "zed").id
        remove_account(session, "zed")
        add_account(session, "other")
    with session_scope(engine) as session:
        add_account(session, "zed")
    with pytest.raises(AccountError, match="removed and added again"), \
            session_scope(engine) as session:
        remove_account(session, "zed", expected_id=first)
    assert "zed" in [a.username for a in _accounts(engine)]


def test_new_posts_after_removing_the_newest_are_read_by_the_signals_source(
    engine: Engine,
) -> None:
    """The post checkpoint stays at the removed newest posts: new posts get larger ids, so
    the signals pipeline reads them (SQLite handed the deleted ids out again, below it)."""
    from musktracker.signals.sources.posts import PostSource

    stamp = datetime(2024, 1, 1, tzinfo=UTC)
    with session_scope(engine) as session:
        for name in ("keep", "gone"):
            account = add_account(session, name)
            session.add_all(
                RawTweet(account_id=account.id, tweet_id=str(i), created_at=stamp,
                         kind="original", source="test") for i in range(3)
            )
        session.flush()
        source = PostSource()
        assert len(source.fetch(session)) == 6
        source.commit(session)
    with session_scope(engine) as session:
        remove_account(session, "gone")
    with session_scope(engine) as session:
        keep = session.scalars(select(Account.id).where(Account.username == "keep")).one()
        session.add(RawTweet(account_id=keep, tweet_id="99", created_at=stamp, kind="original",
                             source="test"))
    with session_scope(engine) as session:
        assert [e.source_id for e in PostSource().fetch(session)] == ["99"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_real_terminal_answer_no_and_no_terminal_refuse_in_a_subprocess(
    cli_env: str, engine: Engine
) -> None:
    """The real program, not the test runner: stdin a pseudo-terminal answered "n", then
    stdin not a terminal at all; neither removes the account nor waits for input."""
    with session_scope(engine) as session:
        add_account(session, "zed")
    env = {**os.environ, "DATABASE_URL": cli_env}
    command = [sys.executable, "-m", "musktracker.cli.accounts", "remove", "zed"]
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(command, stdin=terminal, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, env=env, cwd=REPO)
        os.write(controller, b"n\n")
        out, err = process.communicate(timeout=60)
    finally:
        os.close(controller)
        os.close(terminal)
    assert process.returncode == 1, (out, err)
    assert b"Remove @zed and all of the above? [y/N]" in out
    assert b"not confirmed; nothing was changed" in err
    piped = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, env=env,
                           cwd=REPO, timeout=60)
    assert piped.returncode == 1
    assert _flat(piped.stderr.decode()) == (
        "error: not removing @zed: no terminal to confirm on; add --yes to remove it")
    assert [a.username for a in _accounts(engine)] == ["zed"]
    yes = subprocess.run([*command, "--yes"], stdin=subprocess.DEVNULL, capture_output=True,
                         env=env, cwd=REPO, timeout=60)
    assert yes.returncode == 0, yes.stderr
    assert _accounts(engine) == []


def test_worker_jobs_skip_an_account_removed_while_they_run(
    engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduled jobs read the account list once, then work for minutes: an account
    removed meanwhile is skipped with a result saying so, and the others go on (the hourly
    forecast job failed on it, skipping the accounts after it)."""
    from datetime import UTC, datetime

    from musktracker.accounts import get_account
    from musktracker.config import Settings
    from musktracker.worker import pipeline_jobs

    with session_scope(engine) as session:
        add_account(session, "gone")
        add_account(session, "keep")
    real = account_store.list_accounts

    def listed_then_removed(session: Any) -> list[Account]:
        listed = real(session)
        if any(a.username == "gone" for a in listed):
            remove_account(session, "gone")
        return listed

    monkeypatch.setattr(pipeline_jobs, "list_accounts", listed_then_removed)
    settings = Settings(database_url=db_url)
    assert pipeline_jobs._per_account(settings, "test", lambda _s, a: a.username) == {
        "gone": pipeline_jobs.REMOVED, "keep": "keep"}

    with session_scope(engine) as session:
        add_account(session, "gone")
    monkeypatch.setattr(pipeline_jobs, "default_as_of",
                        lambda _s, _a: datetime(2024, 1, 1, tzinfo=UTC))

    def train(engine: Engine, username: str, *_: Any) -> dict[str, Any]:
        with session_scope(engine) as session:
            return {"trained": get_account(session, username).username}

    assert pipeline_jobs._train_each_account(settings, train) == {
        "gone": pipeline_jobs.REMOVED, "keep": {"trained": "keep"}}


def test_worker_jobs_skip_an_account_removed_during_its_own_step(
    engine: Engine, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Removed while its own step runs (a weekly training takes minutes): storing its
    results fails on the foreign key. That is a removal, not a failed job that leaves the
    accounts after it untrained; a foreign-key failure of a tracked account still raises."""
    from datetime import UTC, datetime

    from sqlalchemy.exc import IntegrityError

    from musktracker.config import Settings
    from musktracker.worker import pipeline_jobs

    with session_scope(engine) as session:
        add_account(session, "gone")
        add_account(session, "keep")
    settings = Settings(database_url=db_url)
    as_of = datetime(2024, 1, 1, tzinfo=UTC)
    monkeypatch.setattr(pipeline_jobs, "default_as_of", lambda _s, _a: as_of)

    def store_for(username: str, remove_first: bool, endpoint: str) -> str:
        """What a step does at its end: store a row of the account (here an ingest
        checkpoint), after the account was removed by another process if `remove_first`."""
        with session_scope(engine) as session:
            account_id = session.scalars(
                select(Account.id).where(Account.username == username)).one()
        if remove_first:
            with session_scope(engine) as other:
                remove_account(other, username)
        with session_scope(engine) as session:
            session.add(IngestState(account_id=account_id, endpoint=endpoint))
        return username

    def step(_session: Any, account: Account) -> str:
        return store_for(account.username, account.username == "gone", "timeline")

    assert pipeline_jobs._per_account(settings, "test", step) == {
        "gone": pipeline_jobs.REMOVED, "keep": "keep"}

    with session_scope(engine) as session:
        add_account(session, "gone")

    def train(_engine: Engine, username: str, *_: Any) -> dict[str, Any]:
        return {"trained": store_for(username, username == "gone", "timeline-run")}

    assert pipeline_jobs._train_each_account(settings, train) == {
        "gone": pipeline_jobs.REMOVED, "keep": {"trained": "keep"}}

    def broken(_engine: Engine, username: str, *_: Any) -> dict[str, Any]:
        with session_scope(engine) as session:  # a tracked account's own integrity error
            session.add(IngestState(account_id=10**9, endpoint="timeline"))
        return {}

    with pytest.raises(IntegrityError):
        pipeline_jobs._train_each_account(settings, broken)


def test_artifacts_relative_to_another_directory_are_named_not_silently_left(
    cli_env: str, runner: CliRunner, posts_sample: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ARTIFACT_DIR is relative by default, so the fits name paths relative to the directory
    the training ran in; removing from another directory cannot find them and says so."""
    monkeypatch.setenv("ARTIFACT_DIR", "artifacts")
    (tmp_path / "worker").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "worker")
    _run(runner, "migrate", "up")
    _run(runner, "accounts", "add", VICTIM)
    _run(runner, "import", str(posts_sample), "--account", VICTIM)
    _run(runner, "train", "--account", VICTIM, "--model", "hour_of_day_mean",
         "--backtest-windows", "2", "--train-days", "14", "--samples", "50",
         "--as-of", AS_OF, "--workers", "1")
    files = sorted((tmp_path / "worker" / "artifacts").rglob("*.pkl"))
    assert files
    monkeypatch.chdir(tmp_path / "elsewhere")
    output = _flat(_run(runner, "accounts", "remove", VICTIM, "--yes"))
    assert len(files) == 1  # one fit: said in the singular
    assert "not found from this directory: 1 model artifact file named by relative paths" \
        in output
    assert "warning: 1 model artifact file its fits name, such as" in output
    assert "is relative to the directory the training ran in" in output
    assert f"not found from {tmp_path / 'elsewhere'}" in output
    assert sorted((tmp_path / "worker" / "artifacts").rglob("*.pkl")) == files


def test_rebuilding_every_table_for_autoincrement_keeps_every_row(
    two_accounts: Engine, cli_env: str
) -> None:
    """Migration 0009 rebuilds `accounts` and the tables referring to it on SQLite (copy,
    drop, rename). With foreign keys enforced, dropping `accounts` cascade-deleted every
    post, bucket and model of every account; the migration must change no row, either way,
    and leave the keys enforced."""
    engine = two_accounts

    def rows() -> Snapshot:
        return {t: r for t, r in snapshot(engine).items() if t != "alembic_version"}

    before = rows()
    migrate.downgrade(cli_env, "0008_event_ids_never_reused")
    assert rows() == before
    migrate.upgrade(cli_env)
    assert rows() == before
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(RawTweet(account_id=10**9, tweet_id="1", kind="original", source="test",
                             created_at=datetime(2024, 1, 1, tzinfo=UTC)))
