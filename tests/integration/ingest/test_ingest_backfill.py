"""The real `musktracker ingest` CLI against the X API emulator on loopback."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from musktracker.cli.main import app
from musktracker.db.models import PostKind, RawTweet, TimeBucket
from musktracker.db.session import session_scope
from musktracker.ingest.client import RetryPolicy, XClient
from musktracker.ingest.emulator import XEmulator, emulated_reference
from musktracker.ingest.pipeline import Ingestor
from tests.integration.ingest.conftest import Weeks, flat, snapshot, stored_posts, track

KIND_OF_REFERENCE = {
    None: PostKind.ORIGINAL,
    "replied_to": PostKind.REPLY,
    "quoted": PostKind.QUOTE,
    "retweeted": PostKind.REPOST,
}


def _ingest(runner: CliRunner, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["ingest", *args])
    return result.exit_code, result.output


def test_backfill_stores_exactly_seven_days_under_faults(
    runner: CliRunner,
    engine: Engine,
    weeks: Weeks,
    serve_cli: Callable[..., XEmulator],
) -> None:
    emulator = serve_cli(
        weeks.path, rate_limit_every=5, unavailable_every=4, drop_every=7, reset_seconds=1
    )
    track(engine, "elonmusk")

    code, output = _ingest(runner, "--account", "elonmusk", "--backfill-days", "7")

    assert code == 0, output
    expected = weeks.window(emulator.now)
    assert len(expected) > 500  # several pages
    assert stored_posts(engine) == expected
    assert emulator.stats.rate_limited >= 1
    assert emulator.stats.unavailable >= 1
    assert emulator.stats.dropped >= 1
    with session_scope(engine) as session:
        kinds = dict(session.execute(select(RawTweet.tweet_id, RawTweet.kind)).all())
        hourly_sum = session.scalar(
            select(func.sum(TimeBucket.tweet_count)).where(TimeBucket.granularity == "hourly")
        )
    assert kinds == {i: KIND_OF_REFERENCE[emulated_reference(int(i))[0]].value for i in expected}
    assert hourly_sum == len(expected)

    before = snapshot(engine)
    code, output = _ingest(runner, "--account", "elonmusk", "--backfill-days", "7")
    assert code == 0, output
    assert snapshot(engine) == before
    code, output = _ingest(runner)  # incremental: nothing new either
    assert code == 0, output
    assert snapshot(engine) == before


def test_incremental_fetches_only_newer_posts(
    runner: CliRunner,
    engine: Engine,
    weeks: Weeks,
    serve_cli: Callable[..., XEmulator],
) -> None:
    emulator = serve_cli(weeks.path)
    track(engine, "elonmusk")
    final_now = emulator.now
    emulator.now = final_now - timedelta(days=2)
    assert _ingest(runner, "--backfill-days", "3")[0] == 0
    emulator.now = final_now
    requests_before = emulator.stats.requests

    code, output = _ingest(runner)

    assert code == 0, output
    window = {
        i: t for i, t in weeks.posts.items() if final_now - timedelta(days=5) <= t <= final_now
    }
    assert stored_posts(engine) == window
    # Two days of posts: the user lookup and a few pages, not a new backfill.
    assert emulator.stats.requests - requests_before <= 1 + len(window) // 100


def test_rate_limit_headers_slow_the_client_before_any_429(
    engine: Engine, weeks: Weeks, serve: Callable[..., XEmulator]
) -> None:
    emulator = serve(weeks.path, rate_limit=3, rate_window_seconds=1.0)
    track(engine, "elonmusk")
    with XClient(emulator.base_url, "t", policy=RetryPolicy(rate_limit_waits=0)) as client:
        Ingestor(engine, client).ingest_account("elonmusk", 7)
    assert emulator.stats.rate_limited == 0
    assert stored_posts(engine) == weeks.window(emulator.now)


@pytest.mark.parametrize(
    ("kind", "problem"),
    [("json", "response is not valid JSON"), ("schema", "field data[99].created_at")],
)
def test_malformed_page_changes_nothing_and_names_the_problem(
    kind: str,
    problem: str,
    runner: CliRunner,
    engine: Engine,
    weeks: Weeks,
    serve_cli: Callable[..., XEmulator],
) -> None:
    serve_cli(weeks.path, malformed_every=2, malformed_kind=kind)  # 1st timeline page
    track(engine, "elonmusk")
    before = snapshot(engine)

    code, output = _ingest(runner, "--account", "elonmusk", "--backfill-days", "7")

    assert code == 1
    assert "user timeline" in flat(output) and problem in flat(output)
    assert "nothing" in flat(output)
    assert snapshot(engine) == before


def test_malformed_later_page_keeps_earlier_pages_and_resumes(
    runner: CliRunner,
    engine: Engine,
    weeks: Weeks,
    serve_cli: Callable[..., XEmulator],
) -> None:
    serve_cli(weeks.path, malformed_every=4)  # lookup, page 1, page 2, page 3 broken
    track(engine, "elonmusk")
    assert _ingest(runner, "--backfill-days", "7")[0] == 1
    assert len(stored_posts(engine)) == 200

    fixed = serve_cli(weeks.path)
    code, output = _ingest(runner, "--backfill-days", "7")
    assert code == 0, output
    assert "resumed" in output
    assert stored_posts(engine) == weeks.window(fixed.now)


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ({"status": 401}, ["401 Unauthorized", "X_BEARER_TOKEN"]),
        ({"forbidden": frozenset({"timeline"})}, ["403 Forbidden", "user timeline", "plan"]),
    ],
)
def test_auth_failures_stop_with_what_is_missing(
    fault: dict[str, object],
    words: list[str],
    runner: CliRunner,
    engine: Engine,
    weeks: Weeks,
    serve_cli: Callable[..., XEmulator],
) -> None:
    emulator = serve_cli(weeks.path, **fault)
    track(engine, "elonmusk", "spacex")
    code, output = _ingest(runner, "--all", "--backfill-days", "7")
    assert code == 1
    for word in words:
        assert word in flat(output)
    assert emulator.stats.requests <= 2  # stopped at once: no retries, no second account


def test_missing_token_is_named(
    runner: CliRunner,
    engine: Engine,
    weeks: Weeks,
    serve_cli: Callable[..., XEmulator],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    serve_cli(weeks.path)
    monkeypatch.setenv("X_BEARER_TOKEN", "")
    from musktracker.config import get_settings

    get_settings.cache_clear()
    track(engine, "elonmusk")
    code, output = _ingest(runner)
    assert code == 1 and "X_BEARER_TOKEN is not set" in output
