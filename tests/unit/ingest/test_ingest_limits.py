"""Rate-limit pacing, stream reconnection waits, snowflake bounds, signals, consumers."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime, timedelta

import pytest

from musktracker.db.models import PostKind
from musktracker.ingest.consumers import ConsumerRegistry, IngestedPost
from musktracker.ingest.ratelimit import RateLimit
from musktracker.ingest.snowflake import snowflake_floor, snowflake_time
from musktracker.ingest.stream import Shutdown, ShutdownRequested, StreamBackoff


def test_rate_limit_headers() -> None:
    headers = {
        "x-rate-limit-limit": "900",
        "x-rate-limit-remaining": "5",
        "x-rate-limit-reset": "1000",
    }
    limit = RateLimit.from_headers(headers)
    assert limit == RateLimit(900, 5, 1000.0)
    assert RateLimit.from_headers({"x-rate-limit-limit": "x"}) is None
    assert limit.shifted(10).reset_at == 1010.0


@pytest.mark.parametrize(
    ("remaining", "pause"),
    [(500, 0.0), (91, 0.0), (90, 100 / 91), (1, 50.0), (0, 100.0)],
)
def test_pacing_spreads_the_last_calls_until_the_reset(remaining: int, pause: float) -> None:
    limit = RateLimit(900, remaining, reset_at=1100.0)
    assert limit.pause_before_next(now=1000.0) == pytest.approx(pause)


def test_no_pause_after_the_reset() -> None:
    assert RateLimit(15, 0, reset_at=900.0).pause_before_next(now=1000.0) == 0.0


def test_stream_backoff_follows_x_guidance() -> None:
    backoff = StreamBackoff()
    assert [backoff.network(n) for n in (1, 2, 3, 64, 100)] == [0.25, 0.5, 0.75, 16.0, 16.0]
    assert [backoff.http(n) for n in (1, 2, 3, 7, 8)] == [5, 10, 20, 320, 320]
    assert [backoff.rate_limited(n) for n in (1, 2, 3)] == [60, 120, 240]
    assert StreamBackoff(scale=0.01).http(1) == pytest.approx(0.05)


def test_snowflake_floor_selects_posts_from_that_moment() -> None:
    moment = datetime(2024, 10, 30, 12, 0, 0, tzinfo=UTC)
    floor = snowflake_floor(moment)
    assert snowflake_time(floor + 1) == moment
    assert snowflake_time(floor) == moment - timedelta(milliseconds=1)


def test_signal_during_critical_section_is_deferred() -> None:
    shutdown = Shutdown()
    done = []
    with shutdown.installed(), pytest.raises(ShutdownRequested), shutdown.critical():
        os.kill(os.getpid(), signal.SIGTERM)
        done.append("post stored and published")
    assert done == ["post stored and published"] and shutdown.requested


def test_signal_outside_critical_section_stops_at_once() -> None:
    # The handler before is not always Python's default: a shell starts background jobs
    # with SIGINT ignored, and Python then leaves it ignored.
    before = signal.getsignal(signal.SIGINT)
    shutdown = Shutdown()
    with shutdown.installed(), pytest.raises(ShutdownRequested):
        os.kill(os.getpid(), signal.SIGINT)
        signal.pause()  # pragma: no cover (the handler raises first)
    assert signal.getsignal(signal.SIGINT) is before


def test_a_failing_consumer_does_not_starve_the_others() -> None:
    seen: list[str] = []

    class Broken:
        def on_post(self, post: IngestedPost) -> None:
            raise ValueError("bug")

    class Good:
        def on_post(self, post: IngestedPost) -> None:
            seen.append(post.tweet_id)

    registry = ConsumerRegistry()
    registry.register(Broken())
    registry.register(Good())
    post = IngestedPost(1, "elonmusk", "42", datetime(2024, 1, 1, tzinfo=UTC), PostKind.REPLY, "hi")
    registry.publish(post)
    assert seen == ["42"] and len(registry) == 2
