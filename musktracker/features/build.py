"""Model features at hourly reference times, with strictly no look-ahead.

The row at reference time t describes the hour [t, t+1h) that a model would forecast:
lags and rolling statistics use only buckets that ended at or before t; calendar fields
describe the hour itself; event fields summarise exogenous events overlapping the window
[t-24h, t+1h) (events are scheduled or known facts, so the hour being described counts).
Rolling standard deviations are sample standard deviations (ddof=1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, insert, or_, select
from sqlalchemy.orm import Session

from musktracker.db.models import ExogenousEvent, Feature
from musktracker.features.buckets import Span, bucket_span, hourly_counts
from musktracker.features.count_rule import ALL_KINDS, CountRule
from musktracker.utc import HOUR, utcnow

LAGS = {"lag_1h": 1, "lag_6h": 6, "lag_12h": 12, "lag_24h": 24, "lag_7d": 168}
ROLLING = {"24h": 24, "7d": 168}
EVENT_LOOKBACK = timedelta(hours=24)
HISTORY_NEEDED = timedelta(hours=max(LAGS.values()))
FEATURE_COLUMNS = [
    *LAGS,
    *(f"rolling_{s}_{w}" for w in ROLLING for s in ("mean", "std")),
    "hour_of_day",
    "day_of_week",
    "is_weekend",
    "event_intensity",
    "events_in_window",
]


@dataclass(frozen=True)
class EventWindow:
    start: datetime
    end: datetime
    intensity: float


def compute_features(
    counts: pd.Series, events: list[EventWindow], reference_times: pd.DatetimeIndex
) -> pd.DataFrame:
    """Features at each reference time from a dense hourly count series.

    `counts` is indexed by bucket start; a reference time may be one hour past the last
    bucket (the next hour to forecast). Missing history gives NaN, never a guess.
    """
    if len(counts):
        full = pd.date_range(counts.index[0], counts.index[-1] + HOUR, freq="h", tz="UTC")
        series = counts.astype("float64").reindex(full)
    else:
        series = pd.Series(dtype="float64", index=pd.DatetimeIndex([], tz="UTC"))
    past = series.shift(1)  # value at t = bucket [t-1h, t)
    frame = pd.DataFrame(index=series.index)
    for name, hours in LAGS.items():
        frame[name] = series.shift(hours)
    for label, hours in ROLLING.items():
        window = past.rolling(hours, min_periods=hours)
        frame[f"rolling_mean_{label}"] = window.mean()
        frame[f"rolling_std_{label}"] = window.std(ddof=1)
    frame = frame.reindex(reference_times)
    frame["hour_of_day"] = reference_times.hour
    frame["day_of_week"] = reference_times.dayofweek
    frame["is_weekend"] = reference_times.dayofweek >= 5
    # Naive UTC datetime64 on both sides: an aware index's to_numpy() gives Timestamp objects.
    naive = reference_times.tz_convert(None) if reference_times.tz is not None else reference_times
    window_start = (naive - EVENT_LOOKBACK).to_numpy()
    window_end = (naive + HOUR).to_numpy()
    intensity = np.zeros(len(reference_times))
    in_window = np.zeros(len(reference_times), dtype="int64")
    for ev in events:
        overlaps = (np.datetime64(ev.start.replace(tzinfo=None)) < window_end) & (
            np.datetime64(ev.end.replace(tzinfo=None)) > window_start
        )
        intensity = np.where(overlaps, np.maximum(intensity, ev.intensity), intensity)
        in_window += overlaps
    frame["event_intensity"] = intensity
    frame["events_in_window"] = in_window
    return frame[FEATURE_COLUMNS]


def account_events(session: Session, account_id: int) -> list[EventWindow]:
    """Events that apply to an account: its own and those for every account."""
    rows = session.scalars(
        select(ExogenousEvent).where(
            or_(ExogenousEvent.account_id.is_(None), ExogenousEvent.account_id == account_id)
        )
    )
    return [EventWindow(e.event_start, e.event_end, e.intensity) for e in rows]


def _to_rows(frame: pd.DataFrame, account_id: int, rule: CountRule) -> list[dict[str, Any]]:
    now = utcnow()
    clean = frame.astype(object).where(frame.notna(), None)
    rows = []
    for ts, values in zip(
        pd.DatetimeIndex(frame.index).to_pydatetime(), clean.itertuples(index=False), strict=True
    ):
        row: dict[str, Any] = dict(zip(FEATURE_COLUMNS, values, strict=True))
        for name in LAGS:
            if row[name] is not None:
                row[name] = int(row[name])
        row["hour_of_day"] = int(row["hour_of_day"])
        row["day_of_week"] = int(row["day_of_week"])
        row["is_weekend"] = bool(row["is_weekend"])
        row["events_in_window"] = int(row["events_in_window"])
        row.update(account_id=account_id, count_rule=rule.name, reference_time=ts, computed_at=now)
        rows.append(row)
    return rows


def refresh_features(
    session: Session, account_id: int, lo: datetime, hi: datetime, rule: CountRule = ALL_KINDS
) -> int:
    """Recompute stored features for reference times in [lo, hi], clipped to where the
    account has buckets (up to one hour past the last one). Returns rows written."""
    span = bucket_span(session, account_id)
    if span is None:
        return 0
    lo_clip, hi_clip = max(lo, span[0]), min(hi, span[1] + HOUR)
    session.execute(
        delete(Feature).where(
            Feature.account_id == account_id,
            Feature.count_rule == rule.name,
            Feature.reference_time >= lo,
            Feature.reference_time <= hi,
        )
    )
    if lo_clip > hi_clip:
        return 0
    counts = hourly_counts(session, account_id, rule, lo_clip - HISTORY_NEEDED, hi_clip)
    times = pd.date_range(lo_clip, hi_clip, freq="h")
    frame = compute_features(counts, account_events(session, account_id), times)
    rows = _to_rows(frame, account_id, rule)
    session.execute(insert(Feature), rows)
    return len(rows)


def stored_rules(session: Session, account_id: int) -> list[CountRule]:
    """Counting rules with features stored for the account, always including "all"."""
    names = set(
        session.scalars(
            select(Feature.count_rule).where(Feature.account_id == account_id).distinct()
        )
    )
    names.add(ALL_KINDS.name)
    return [CountRule.parse(n) for n in sorted(names)]


def refresh_after_buckets(session: Session, account_id: int, span: Span) -> int:
    """Refresh every feature a change of the buckets in `span` can reach, for all rules."""
    lo, hi = span[0], span[1] + HISTORY_NEEDED + HOUR
    return sum(
        refresh_features(session, account_id, lo, hi, r) for r in stored_rules(session, account_id)
    )
