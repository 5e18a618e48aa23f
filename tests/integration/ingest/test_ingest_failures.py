"""How ingestion fails, and recovers, when X, a checkpoint or an account is not as expected:
X's "200 with only errors" answers, stale and repeating pagination tokens, implausible
rate-limit resets, a wrong X user id on one account, and Ctrl-C. Real CLI, real emulator
on loopback, real databases."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from musktracker.accounts import AccountError, add_account, set_user_id
from musktracker.cli.main import app
from musktracker.db.models import Account, IngestState
from musktracker.db.session import session_scope
from musktracker.ingest.client import RetryPolicy, XClient
from musktracker.ingest.emulator import XEmulator
from musktracker.ingest.errors import XRateLimitError
from musktracker.ingest.snowflake import snowflake_floor
from tests.integration.ingest.conftest import (
    INGEST_CMD,
    REPO,
    Weeks,
    flat,
    stored_posts,
    subprocess_env,
    track,
)


def _ingest(runner: CliRunner, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["ingest", *args])
    return result.exit_code, flat(result.output)


def _checkpoints(engine: Engine) -> list[tuple[str, str | None]]:
    with session_scope(engine) as session:
        return [
            (state.endpoint, state.pagination_token)
            for state in session.scalars(select(IngestState).order_by(IngestState.endpoint))
        ]


def test_unknown_user_gives_x_own_message_in_table_and_error(
    runner: CliRunner, engine: Engine, weeks: Weeks, serve_cli: Callable[..., XEmulator]
) -> None:
    """X answers an unknown handle with HTTP 200 and only `errors`; that is X's message, not
    "malformed response", and the summary table keeps the bracketed value."""
    serve_cli(weeks.path)
    track(engine, "ghost")
    code, output = _ingest(runner, "--account", "ghost", "--backfill-days", "1")
    assert code == 1
    message = "X has no user 'ghost' (Not Found Error: Could not find user with username: [ghost].)"
    assert message in output
    assert "malformed" not in output
    table = output[output.index("┏") : output.rindex("┘")]
    assert "[ghost]." in table  # Rich used to read it as markup and drop it


def test_timeline_answered_with_only_errors(
    runner: CliRunner, engine: Engine, weeks: Weeks, serve_cli: Callable[..., XEmulator]
) -> None:
    serve_cli(weeks.path, errors_only=frozenset({"timeline"}))
    track(engine, "elonmusk")
    code, output = _ingest(runner, "--account", "elonmusk", "--backfill-days", "1")
    assert code == 1
    assert (
        "user timeline: Authorization Error: Sorry, you are not authorized to see the user "
        "with id: [44196397]." in output
    )
    assert "malformed" not in output


def test_stale_checkpoint_token_restarts_the_run(
    runner: CliRunner, engine: Engine, weeks: Weeks, serve_cli: Callable[..., XEmulator]
) -> None:
    """A checkpoint whose token X no longer accepts (400) used to block the account for
    good; the run restarts from its lower bound without the token."""
    emulator = serve_cli(weeks.path)
    track(engine, "elonmusk")
    since = snowflake_floor(emulator.now - timedelta(days=4))
    with session_scope(engine) as session:
        account_id = session.scalar(select(Account.id).where(Account.username == "elonmusk"))
        session.add(
            IngestState(
                account_id=account_id,
                endpoint="timeline-run",
                oldest_id=str(since),
                pagination_token="expiredtoken",
            )
        )
    code, output = _ingest(runner, "--account", "elonmusk")
    assert code == 0, output
    assert "ingest.stale_checkpoint_discarded" in output  # logged, and noted in the table
    expected = weeks.window(emulator.now, days=4)
    assert stored_posts(engine).keys() >= expected.keys()
    assert ("timeline-run", "expiredtoken") not in _checkpoints(engine)
    assert [endpoint for endpoint, _ in _checkpoints(engine)] == ["timeline"]
    code, output = _ingest(runner, "--account", "elonmusk")  # and the account goes on
    assert code == 0, output


def test_a_repeating_next_token_stops_instead_of_looping(
    runner: CliRunner, engine: Engine, weeks: Weeks, serve_cli: Callable[..., XEmulator]
) -> None:
    looping = serve_cli(weeks.path, repeat_token=True)
    track(engine, "elonmusk")
    code, output = _ingest(runner, "--account", "elonmusk", "--backfill-days", "7")
    assert code == 1
    assert "user timeline: X returned the next_token 'pt" in output
    assert "a second time" in output
    assert looping.stats.requests <= 4  # user lookup and two or three pages, not forever
    [(_run, token)] = [c for c in _checkpoints(engine) if c[0] == "timeline-run"]
    assert token is not None  # resumable from the last good page

    fixed = serve_cli(weeks.path)  # X behaves again: the run resumes and completes
    code, output = _ingest(runner, "--account", "elonmusk", "--backfill-days", "7")
    assert code == 0, output
    assert stored_posts(engine) == weeks.window(fixed.now)
    assert [endpoint for endpoint, _ in _checkpoints(engine)] == ["timeline"]


@pytest.mark.parametrize(
    ("fault", "expected_wait"),
    [
        ({"reset_scale": 1000}, 7.0),  # a reset in milliseconds: an OverflowError before
        ({"reset_seconds": 86_400}, 7.0),  # a day ahead: a silent day-long sleep before
        ({"reset_seconds": 2}, 2.5),  # a sane reset is waited for (plus the margin)
    ],
)
def test_implausible_rate_limit_reset_falls_back_to_a_bounded_wait(
    fault: dict[str, int],
    expected_wait: float,
    weeks: Weeks,
    serve: Callable[..., XEmulator],
) -> None:
    emulator = serve(weeks.path, rate_limit_every=1, **fault)
    waits: list[float] = []
    policy = RetryPolicy(attempts=2, initial_wait=0.01, jitter=0.0, fallback_reset_wait=7.0)
    with (
        XClient(emulator.base_url, "test-token", policy=policy, sleep=waits.append) as client,
        pytest.raises(XRateLimitError, match="still rate limited"),
    ):
        client.user_by_username("elonmusk")
    # Pacing may add a pause before each retry (the headers said 0 remaining); the waits
    # for the reset are the longest ones, one per allowed wait, none after the last try.
    assert len(waits) >= policy.rate_limit_waits
    assert sorted(waits)[-policy.rate_limit_waits :] == pytest.approx(
        [expected_wait] * policy.rate_limit_waits, abs=0.05
    )


def test_a_wrong_id_on_one_account_does_not_stop_the_others(
    runner: CliRunner,
    engine: Engine,
    split_weeks: tuple[Weeks, Weeks],
    serve_cli: Callable[..., XEmulator],
) -> None:
    """@zed was added with @elonmusk's id by mistake: ingesting @elonmusk used to end every
    account's run with an IntegrityError traceback."""
    elon, spacex = split_weeks
    emulator = serve_cli(elon.path, spacex.path)
    track(engine, "spacex")
    with session_scope(engine) as session:
        add_account(session, "zed", "44196397")
        add_account(session, "elonmusk")

    code, output = _ingest(runner, "--all", "--backfill-days", "7")

    assert code == 1 and "Traceback" not in output
    assert (
        "@elonmusk: X says @elonmusk has user id 44196397, but that id is recorded for @zed"
        in output
    )
    assert "musktracker accounts set-id zed --clear" in output
    assert stored_posts(engine, "spacex") == spacex.window(emulator.now)  # the others go on

    result = runner.invoke(app, ["accounts", "set-id", "zed", "--clear"])
    assert result.exit_code == 0, result.output
    code, output = _ingest(runner, "--account", "elonmusk", "--backfill-days", "7")
    assert code == 0, output
    assert stored_posts(engine, "elonmusk") == elon.window(emulator.now)


def test_x_user_ids_are_ascii_digits_normalised(engine: Engine) -> None:
    with session_scope(engine) as session:
        assert add_account(session, "elonmusk", "0044196397").x_user_id == "44196397"
        with pytest.raises(AccountError, match="already belongs to 'elonmusk'"):
            add_account(session, "zed", "44196397")
        with pytest.raises(AccountError, match="is not a number made of digits 0-9"):
            add_account(session, "arabic", "٤٤١")
        with pytest.raises(AccountError, match="already belongs to 'elonmusk'"):
            add_account(session, "spacex")
            set_user_id(session, "spacex", " 044196397 ")
        assert set_user_id(session, "spacex", "34743251").x_user_id == "34743251"
        assert set_user_id(session, "spacex", None).x_user_id is None


def test_accounts_set_id_cli(cli_env: str, engine: Engine, runner: CliRunner) -> None:
    help_text = runner.invoke(app, ["accounts", "set-id", "--help"])
    assert help_text.exit_code == 0 and "--clear" in help_text.output
    track(engine, "elonmusk")
    result = runner.invoke(app, ["accounts", "set-id", "elonmusk", "0044196397"])
    assert result.exit_code == 0 and "X user id 44196397" in result.output
    both = runner.invoke(app, ["accounts", "set-id", "elonmusk", "1", "--clear"])
    assert both.exit_code != 0
    bad = runner.invoke(app, ["accounts", "set-id", "elonmusk", "٤٤١"])
    assert bad.exit_code == 1 and "not a number made of digits 0-9" in flat(bad.output)
    # Beyond 64 bits: a typo, which overflowed the column (a DataError traceback on
    # PostgreSQL beyond 32 digits, stored silently on SQLite).
    for huge in ("18446744073709551616", "9" * 40):
        for command in (
            ["accounts", "set-id", "elonmusk", huge],
            ["accounts", "add", "zed", "--id", huge],
        ):
            refused = runner.invoke(app, command)
            assert refused.exit_code == 1, refused.output
            assert "is larger than any X id (2**64 - 1)" in flat(refused.output)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT x_user_id FROM accounts")).scalar() == "44196397"


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_says_progress_is_saved_and_exits_130(
    cli_env: str, engine: Engine, weeks: Weeks, serve: Callable[..., XEmulator],
    sig: signal.Signals, code: int,
) -> None:
    """Ctrl-C exits 130; SIGTERM (`kill`, `docker stop`) ended the process on the spot with
    no word and exit -15: now it says the same and exits 143 (128 + 15)."""
    emulator = serve(weeks.path)
    track(engine, "elonmusk")
    process: subprocess.Popen[bytes] | None = None

    def interrupt(n: int) -> None:
        if n == 4 and process is not None:  # the user lookup, then pages
            os.kill(process.pid, sig)

    emulator.on_request = interrupt
    process = subprocess.Popen(
        [*INGEST_CMD, "--account", "elonmusk", "--backfill-days", "7"],
        env=subprocess_env(cli_env, emulator),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = process.communicate(timeout=120)
    assert process.returncode == code, (out + err).decode()
    said = flat(err.decode())
    assert "interrupted: every page fetched so far is saved" in said
    assert "run the same command again to resume" in said and "Traceback" not in said
    assert said.count("interrupted") == 1
    emulator.on_request = None
    again = subprocess.run(
        [*INGEST_CMD, "--account", "elonmusk", "--backfill-days", "7"],
        env=subprocess_env(cli_env, emulator),
        cwd=REPO,
        capture_output=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr.decode()
    assert stored_posts(engine) == weeks.window(emulator.now)
