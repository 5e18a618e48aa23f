"""Build a model's `History` as of a moment: from the database, or straight from post times.

Only data strictly before `end` enters, so any past moment can be replayed without look-ahead.
The counts start at the later of `end - train_days` and the first post's hour: hours before an
account's first post are unknown, not zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from musktracker.db.models import Account, RawTweet
from musktracker.features.buckets import hourly_counts
from musktracker.features.build import EventWindow, account_events
from musktracker.features.count_rule import ALL_KINDS, CountRule
from musktracker.models.base import History, ModelError
from musktracker.utc import HOUR, ensure_utc, floor_hour

_NS_PER_SECOND = 1e9


def _window(end: datetime, train_days: float) -> tuple[datetime, datetime]:
    end = ensure_utc(end, "as-of time")
    if end != floor_hour(end):
        raise ModelError(f"as-of time {end.isoformat()} is not on an hour boundary")
    if not train_days > 0:
        raise ModelError(f"train_days must be positive, got {train_days}")
    return floor_hour(end - timedelta(days=train_days)), end


def _dense(counts: pd.Series, start: datetime, end: datetime) -> pd.Series:
    index = pd.date_range(start, end - HOUR, freq="h", tz="UTC", name="bucket_start")
    return counts.reindex(index, fill_value=0).astype("int64").rename("count")


def history_from_posts(
    post_times: Sequence[datetime] | pd.DatetimeIndex,
    end: datetime,
    train_days: float,
    events: Iterable[EventWindow] = (),
) -> History:
    """History from post times alone (no database): for tests, benchmarks and replays."""
    start, end = _window(end, train_days)
    if isinstance(post_times, pd.DatetimeIndex):
        times = post_times
    else:
        times = pd.DatetimeIndex(list(post_times))
    if times.tz is None:
        raise ModelError("post times must be timezone-aware UTC")
    times = times.tz_convert("UTC").sort_values()
    times = times[times < pd.Timestamp(end)]
    if len(times) == 0:
        raise ModelError(f"no posts before {end.isoformat()}")
    start = max(start, floor_hour(times[0].floor("s").to_pydatetime()))
    times = times[times >= pd.Timestamp(start)]
    counts = pd.Series(1, index=times.floor("h")).groupby(level=0).sum()
    seconds = times.as_unit("ns").asi8.astype("float64") / _NS_PER_SECOND
    return History(_dense(counts, start, end), seconds, list(events), end)


def load_history(
    session: Session,
    account_id: int,
    end: datetime,
    train_days: float,
    rule: CountRule = ALL_KINDS,
) -> History:
    """History of an account as of `end` from time_buckets and raw_tweets (non-deleted posts
    of the rule's kinds, created before `end`)."""
    start, end = _window(end, train_days)
    counts = hourly_counts(session, account_id, rule, start, end)
    kinds = [k.value for k in rule.kinds]
    rows = session.scalars(
        select(RawTweet.created_at)
        .where(
            RawTweet.account_id == account_id,
            RawTweet.is_deleted.is_(False),
            RawTweet.kind.in_(kinds),
            RawTweet.created_at >= start,
            RawTweet.created_at < end,
        )
        .order_by(RawTweet.created_at)
    ).all()
    account = session.get(Account, account_id)
    handle = f"@{account.username}" if account is not None else f"account {account_id}"
    if not len(counts) or not rows:
        raise ModelError(
            f"{handle} has no posts (under counting rule {rule.name!r}) "
            f"between {start.isoformat()} and {end.isoformat()}"
        )
    data_end = counts.index[-1].to_pydatetime() + HOUR
    if data_end < end:
        # buckets are gap-free up to the newest post's hour: later hours are not known yet,
        # and filling them with zeros would read as a silent account
        raise ModelError(
            f"{handle}'s data end at {data_end.isoformat()}, before the as-of time "
            f"{end.isoformat()}: the hours after it are unknown, not zero posts"
        )
    start = max(start, counts.index[0].to_pydatetime())
    seconds = np.array([ensure_utc(t).timestamp() for t in rows], dtype="float64")
    seconds = seconds[seconds >= start.timestamp()]
    return History(_dense(counts, start, end), seconds, account_events(session, account_id), end)
