"""Several accounts, deletions, the timeline cap and the counts cross-check."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from musktracker.cli.main import app
from musktracker.db.models import RawTweet, TimeBucket
from musktracker.db.session import session_scope
from musktracker.ingest.client import XClient
from musktracker.ingest.emulator import XEmulator
from musktracker.ingest.pipeline import Ingestor
from tests.integration.ingest.conftest import Weeks, flat, stored_posts, track


def test_one_failing_account_does_not_stop_the_others(
    runner: CliRunner,
    engine: Engine,
    split_weeks: tuple[Weeks, Weeks],
    serve_cli: Callable[..., XEmulator],
) -> None:
    elon, spacex = split_weeks
    emulator = serve_cli(elon.path, spacex.path)
    track(engine, "elonmusk", "ghost", "spacex")  # X does not know "ghost"

    result = runner.invoke(app, ["ingest", "--all", "--backfill-days", "7"])

    assert result.exit_code == 1
    assert "@ghost: user lookup: X has no user 'ghost'" in flat(result.output)
    assert stored_posts(engine, "elonmusk") == elon.window(emulator.now)
    assert stored_posts(engine, "spacex") == spacex.window(emulator.now)


def test_account_and_all_together_are_refused_before_any_call(
    runner: CliRunner,
    engine: Engine,
    split_weeks: tuple[Weeks, Weeks],
    serve_cli: Callable[..., XEmulator],
) -> None:
    """`--account spacex --all` ingested every account, the --account silently dropped."""
    elon, spacex = split_weeks
    serve_cli(elon.path, spacex.path)
    track(engine, "elonmusk", "spacex")
    for extra in ([], ["--verify-deletions"], ["--check-counts"], ["--stream"]):
        result = runner.invoke(app, ["ingest", "--account", "SpaceX", "--all", *extra])
        assert result.exit_code == 1, result.output
        assert "--account SpaceX and --all: give one" in flat(result.output)
    assert stored_posts(engine, "elonmusk") == stored_posts(engine, "spacex") == {}


def test_verify_deletions_soft_deletes_what_x_no_longer_returns(
    runner: CliRunner,
    engine: Engine,
    weeks: Weeks,
    serve_cli: Callable[..., XEmulator],
) -> None:
    emulator = serve_cli(weeks.path)
    track(engine, "elonmusk")
    assert runner.invoke(app, ["ingest", "--backfill-days", "7"]).exit_code == 0
    window = weeks.window(emulator.now)
    gone = sorted(window, key=int)[10:250:40]  # six posts, across three lookup batches
    emulator.deleted.update(int(i) for i in gone)
    assert runner.invoke(app, ["ingest", "--check-counts"]).output.count("differ") == 1

    result = runner.invoke(app, ["ingest", "--verify-deletions", "--days", "7"])

    assert result.exit_code == 0, result.output
    assert f"{len(window)} posts of the last 7 days checked, 6 no longer on X" in flat(
        result.output
    )
    with session_scope(engine) as session:
        deleted = set(session.scalars(select(RawTweet.tweet_id).where(RawTweet.is_deleted)))
        rows = session.scalar(select(func.count()).select_from(RawTweet))
        hourly = session.scalar(
            select(func.sum(TimeBucket.tweet_count)).where(TimeBucket.granularity == "hourly")
        )
    assert deleted == set(gone)
    assert rows == len(window)  # rows are kept
    assert hourly == len(window) - len(gone)  # but leave the counts
    again = runner.invoke(app, ["ingest", "--verify-deletions"])
    assert "0 no longer on X" in flat(again.output)
    check = runner.invoke(app, ["ingest", "--check-counts"])
    assert "0 differ" in flat(check.output)


def test_counts_cross_check_spots_missing_posts(
    runner: CliRunner,
    engine: Engine,
    weeks: Weeks,
    serve_cli: Callable[..., XEmulator],
) -> None:
    serve_cli(weeks.path)
    track(engine, "elonmusk")
    assert runner.invoke(app, ["ingest", "--backfill-days", "7"]).exit_code == 0
    assert "0 differ" in flat(runner.invoke(app, ["ingest", "--check-counts"]).output)
    with session_scope(engine) as session:
        newest = session.scalars(select(RawTweet).order_by(RawTweet.created_at.desc())).first()
        assert newest is not None
        session.delete(newest)  # lose a post behind ingestion's back (not the last hour)
    result = runner.invoke(app, ["ingest", "--check-counts"])
    assert result.exit_code == 0
    assert "differ" in result.output


def test_timeline_cap_is_filled_by_recent_search(
    engine: Engine, weeks: Weeks, serve: Callable[..., XEmulator]
) -> None:
    emulator = serve(weeks.path, timeline_cap=300)
    track(engine, "elonmusk")
    with XClient(emulator.base_url, "t") as client:
        report = Ingestor(engine, client, timeline_cap=300).ingest_account("elonmusk", 7)
    assert report.error is None
    assert any("cap" in note for note in report.notes)
    assert stored_posts(engine) == weeks.window(emulator.now)


def test_timeline_cap_beyond_search_reach_is_reported(
    engine: Engine, weeks: Weeks, serve: Callable[..., XEmulator]
) -> None:
    emulator = serve(weeks.path, timeline_cap=300)
    track(engine, "elonmusk")
    with XClient(emulator.base_url, "t") as client:
        report = Ingestor(engine, client, timeline_cap=300).ingest_account("elonmusk", 12)
    assert report.error is not None
    assert "only the 300 most recent posts" in report.error
    assert "recent search only the last 7 days" in report.error
    stored = stored_posts(engine)
    assert set(weeks.window(emulator.now, days=6)) <= set(stored)
    assert min(stored.values()) >= emulator.now - timedelta(days=7)
