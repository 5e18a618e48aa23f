"""The filtered stream against the emulator: rules, storage, consumers, stalls, SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from musktracker.db.models import RawTweet, SignalEvent
from musktracker.db.session import session_scope
from musktracker.ingest.client import XClient
from musktracker.ingest.consumers import ConsumerRegistry, IngestedPost
from musktracker.ingest.emulator import XEmulator
from musktracker.ingest.errors import XApiError
from musktracker.ingest.stream import Shutdown, StreamBackoff, StreamIngestor
from tests.integration.ingest.conftest import (
    INGEST_CMD,
    REPO,
    Weeks,
    stored_posts,
    subprocess_env,
    track,
)


class Collector:
    def __init__(self) -> None:
        self.posts: list[IngestedPost] = []

    def on_post(self, post: IngestedPost) -> None:
        self.posts.append(post)


class Broken:
    def on_post(self, post: IngestedPost) -> None:
        raise RuntimeError("a consumer bug")


def _after(weeks: Weeks, now_cut: object) -> list[str]:
    return sorted((i for i, t in weeks.posts.items() if t > now_cut), key=int)  # type: ignore[operator]


def test_stream_stores_posts_calls_consumers_and_survives_stalls(
    engine: Engine, weeks: Weeks, serve: Callable[..., XEmulator]
) -> None:
    last = max(weeks.posts.values())
    emulator = serve(
        weeks.path,
        now=last - timedelta(days=1),
        stall_after=3,
        keepalive_seconds=0.1,
        stream_interval_seconds=0.01,
    )
    track(engine, "elonmusk")
    registry = ConsumerRegistry()
    collector = Collector()
    registry.register(Broken())
    registry.register(collector)
    with XClient(emulator.base_url, "t") as client:
        streamer = StreamIngestor(
            engine,
            client,
            registry,
            store_text=True,
            stall_seconds=0.4,
            backoff=StreamBackoff(scale=0.01),
            max_posts=12,
        )
        streamer.prepare(["elonmusk"])
        streamer.prepare(["elonmusk"])  # rules are synced, not duplicated
        report = streamer.run(Shutdown())

    assert [r["value"] for r in emulator.rules] == ["from:elonmusk"]
    assert emulator.stats.stalls >= 3 and report.reconnects >= 3
    assert report.duplicates >= 1  # the emulator repeats a post after each reconnect
    expected = _after(weeks, emulator.now)[: report.stored]
    assert [p.tweet_id for p in collector.posts] == expected  # once each, in order
    assert all(p.text and p.username == "elonmusk" for p in collector.posts)
    assert set(stored_posts(engine)) == set(expected)
    with session_scope(engine) as session:
        texts = session.scalars(select(RawTweet.text)).all()
    assert all(texts)


def test_stream_backs_off_on_http_errors_and_rate_limits(
    engine: Engine, weeks: Weeks, serve: Callable[..., XEmulator]
) -> None:
    last = max(weeks.posts.values())
    # Requests 1-3 set up (lookup, list rules, add rules); then connects fail or stall.
    emulator = serve(
        weeks.path,
        now=last - timedelta(days=1),
        stall_after=2,
        unavailable_every=5,
        rate_limit_every=7,
        keepalive_seconds=0.1,
        stream_interval_seconds=0.01,
    )
    track(engine, "elonmusk")
    collector = Collector()
    registry = ConsumerRegistry()
    registry.register(collector)
    with XClient(emulator.base_url, "t") as client:
        streamer = StreamIngestor(
            engine,
            client,
            registry,
            stall_seconds=0.4,
            backoff=StreamBackoff(scale=0.001),
            max_posts=9,
        )
        streamer.prepare(["elonmusk"])
        report = streamer.run(Shutdown())
    assert emulator.stats.unavailable >= 1 and emulator.stats.rate_limited >= 1
    assert [p.tweet_id for p in collector.posts] == _after(weeks, emulator.now)[: report.stored]
    assert report.stored >= 5


def test_stream_leaves_out_an_account_x_refuses_and_follows_the_rest(
    engine: Engine, weeks: Weeks, serve: Callable[..., XEmulator]
) -> None:
    """A handle X does not know (renamed, suspended) must not stop every other account's
    stream; it is left out with X's reason. With no account left, nothing is followed."""
    last = max(weeks.posts.values())
    emulator = serve(weeks.path, now=last - timedelta(days=1), stream_interval_seconds=0.01)
    track(engine, "elonmusk", "ghost")
    with XClient(emulator.base_url, "t") as client:
        streamer = StreamIngestor(
            engine, client, ConsumerRegistry(), backoff=StreamBackoff(scale=0.01), max_posts=3
        )
        left_out = streamer.prepare(["elonmusk", "ghost"])
        report = streamer.run(Shutdown())
        assert list(left_out) == ["ghost"] and "no user 'ghost'" in left_out["ghost"]
        assert [r["value"] for r in emulator.rules] == ["from:elonmusk"]
        assert report.stored == 3

        alone = StreamIngestor(engine, client, ConsumerRegistry())
        with pytest.raises(XApiError, match=r"no account to follow: @ghost: .*no user 'ghost'"):
            alone.prepare(["ghost"])


def test_sigterm_stops_the_stream_cleanly_without_losing_posts(
    db_url: str, engine: Engine, weeks: Weeks, serve: Callable[..., XEmulator]
) -> None:
    last = max(weeks.posts.values())
    emulator = serve(
        weeks.path, now=last - timedelta(days=1), keepalive_seconds=0.2, stream_interval_seconds=0.1
    )
    track(engine, "elonmusk", "ghost")  # every tracked account; X does not know @ghost
    process = subprocess.Popen(
        [*INGEST_CMD, "--stream"],
        env=subprocess_env(db_url, emulator),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while len(stored_posts(engine)) < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)

    assert process.returncode == 0, err.decode()
    assert "not streaming @ghost: user lookup: X has no user 'ghost'" in out.decode()
    assert "streaming posts of @elonmusk and of accounts added while it runs;" in out.decode()
    assert "stream stopped" in out.decode() and "not streamed: @ghost" in out.decode()
    stored = sorted(stored_posts(engine), key=int)
    assert len(stored) >= 5
    # No gap: what is stored is exactly the first posts the stream sent. (Posts still in
    # the socket buffer at SIGTERM were never acknowledged; `musktracker ingest` fills them.)
    assert stored == _after(weeks, emulator.now)[: len(stored)]


def test_a_running_stream_follows_an_account_added_meanwhile(
    db_url: str, engine: Engine, split_weeks: tuple[Weeks, Weeks],
    serve: Callable[..., XEmulator],
) -> None:
    """`ingest --stream` (every tracked account): `accounts add spacex` while it runs, and
    @spacex's posts are streamed and stored; the closing line says it joined."""
    elon, _spacex = split_weeks
    last = max(elon.posts.values())
    emulator = serve(*(w.path for w in split_weeks), now=last - timedelta(days=1),
                     keepalive_seconds=0.05, stream_interval_seconds=0.01)
    track(engine, "elonmusk")
    process = subprocess.Popen(
        [*INGEST_CMD, "--stream"],
        env={**subprocess_env(db_url, emulator), "X_STREAM_ACCOUNT_CHECK_SECONDS": "0"},
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not stored_posts(engine) and time.monotonic() < deadline:
        time.sleep(0.05)
    track(engine, "spacex")
    while not stored_posts(engine, "spacex") and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)

    assert process.returncode == 0, err.decode()
    assert stored_posts(engine, "spacex")
    assert sorted(r["value"] for r in emulator.rules) == ["from:elonmusk", "from:spacex"]
    assert "; joined: @spacex" in " ".join(out.decode().split())


def test_stream_feeds_the_signals_pipeline(
    db_url: str, engine: Engine, weeks: Weeks, serve: Callable[..., XEmulator], tmp_path: Path
) -> None:
    """`ingest --stream --signals`: each post reaches the signals pipeline with its text,
    although STORE_POST_TEXT is off, and becomes an event."""
    last = max(weeks.posts.values())
    emulator = serve(
        weeks.path, now=last - timedelta(days=1), keepalive_seconds=0.2, stream_interval_seconds=0.1
    )
    track(engine, "elonmusk")
    rules = tmp_path / "rules.yml"
    rules.write_text(
        '- {name: any_post, condition: "cashtag_count >= 0", score: 1, reason: seen}\n'
    )
    env = {
        **subprocess_env(db_url, emulator),
        "RULES_PATH": str(rules),
        "SIGNALS_ENRICH": "false",
        "SIGNALS_LANGUAGES": "",
        "STORE_POST_TEXT": "false",
    }
    process = subprocess.Popen(
        [*INGEST_CMD, "--stream", "--signals", "--account", "elonmusk"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _event_count(engine) < 3:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err.decode()
    assert _event_count(engine) >= 3
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).where(RawTweet.text.is_not(None))) == 0


def _event_count(engine: Engine) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(SignalEvent)) or 0
