"""A running stream and `accounts remove`: the stream resolved its accounts when it started,
so a post of an account removed since then failed the foreign key and ended the stream for
every account. Now that account is dropped, and so is its rule on X."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from musktracker.account_removal import remove_account
from musktracker.accounts import add_account
from musktracker.db.models import RawTweet
from musktracker.db.session import session_scope
from musktracker.ingest.client import XClient
from musktracker.ingest.consumers import ConsumerRegistry
from musktracker.ingest.emulator import XEmulator
from musktracker.ingest.stream import Shutdown, StreamBackoff, StreamIngestor
from tests.integration.ingest.conftest import Weeks, track


@contextmanager
def streaming_elonmusk(
    engine: Engine, weeks: Weeks, serve: Callable[..., XEmulator]
) -> Iterator[tuple[XEmulator, StreamIngestor]]:
    """@elonmusk tracked and a stream prepared for it (its rule set on the emulator), to
    read one post once the block has changed the accounts."""
    last = max(weeks.posts.values())
    emulator = serve(weeks.path, now=last - timedelta(days=1), keepalive_seconds=0.1,
                     stream_interval_seconds=0.01)
    track(engine, "elonmusk")
    with XClient(emulator.base_url, "t") as client:
        streamer = StreamIngestor(engine, client, ConsumerRegistry(), stall_seconds=2.0,
                                  backoff=StreamBackoff(scale=0.01), max_posts=1)
        streamer.prepare(["elonmusk"])
        assert [r["value"] for r in emulator.rules] == ["from:elonmusk"]
        yield emulator, streamer


def test_a_running_stream_drops_a_removed_account_and_its_rule(
    engine: Engine, weeks: Weeks, serve: Callable[..., XEmulator]
) -> None:
    with streaming_elonmusk(engine, weeks, serve) as (emulator, streamer):
        with session_scope(engine) as session:
            remove_account(session, "elonmusk")
        report = streamer.run(Shutdown())
    assert report.received == 1 and report.stored == 0
    assert emulator.rules == []


def test_a_removed_accounts_posts_never_go_to_an_account_added_since(
    engine: Engine, weeks: Weeks, serve: Callable[..., XEmulator]
) -> None:
    """The account added after the removal gets a new id (SQLite once handed it the removed
    newest one's, and with it the stream's @elonmusk posts): the post fails the foreign key,
    the stream drops @elonmusk, and @zed gets nothing."""
    with streaming_elonmusk(engine, weeks, serve) as (emulator, streamer):
        with session_scope(engine) as session:
            old_id = remove_account(session, "elonmusk").account_id
        with session_scope(engine) as session:
            assert add_account(session, "zed").id != old_id
        report = streamer.run(Shutdown())
    assert report.received == 1 and report.stored == 0
    assert emulator.rules == []
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(RawTweet)) == 0
