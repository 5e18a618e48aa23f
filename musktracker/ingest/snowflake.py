"""X "snowflake" ids carry their creation time: milliseconds since X's epoch in the top
bits. Ids from before snowflakes (November 2010) carry no time."""

from __future__ import annotations

from datetime import UTC, datetime

TWITTER_EPOCH_MS = 1288834974657
# The first snowflake ids appeared on 2010-11-04; smaller ids are sequential, not timed.
FIRST_SNOWFLAKE_ID = 29_700_859_247


def snowflake_time(tweet_id: int) -> datetime:
    """Creation time encoded in a snowflake id, to the millisecond, in UTC."""
    if tweet_id < FIRST_SNOWFLAKE_ID:
        raise ValueError(f"tweet id {tweet_id} predates snowflake ids and encodes no time")
    ms = (tweet_id >> 22) + TWITTER_EPOCH_MS
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def snowflake_floor(moment: datetime) -> int:
    """The largest id below every snowflake created at or after `moment`: as X's exclusive
    `since_id`, it selects exactly the posts created at or after `moment`."""
    ms = int(moment.timestamp() * 1000) - TWITTER_EPOCH_MS
    if ms <= 0:
        raise ValueError(f"{moment.isoformat()} is before the first snowflake id")
    return (ms << 22) - 1
