"""Events from our own models: volume bursts, regime shifts and sentiment swings.

Each re-reads a lookback window on every poll (no checkpoint): a forecast's actual count or
a prediction may arrive late, and dedup by source id (14 days) drops what was seen. Source
ids name the account by handle and the event by what it is (hour, shift), never by a row
id: SQLite hands a deleted row's id to the next row, and a removed account's to the next
account added, which dedup would then take for the event already seen.

- `volume_burst`: a complete hour whose actual count (`forecasts.actual_count`, else the
  hourly `time_buckets` count) is above the stored forecast's 95% upper bound. When several
  forecasts cover the hour, the most recent one is used.
- `regime_shift`: the `regime_shifts` rows that `musktracker regimes` stored lately.
- `sentiment_swing`: per account, the share of 'negative' labels in `sentiment_predictions`
  over the last 24 hours against the daily shares of the 14 days before; outside their mean
  plus or minus two standard deviations (at least 5 points wide), it is a swing.
"""

from __future__ import annotations

import statistics
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from musktracker.db.models import Account, Forecast, RegimeShift, SentimentPrediction, TimeBucket
from musktracker.signals.event import RawEvent
from musktracker.utc import HOUR, floor_hour, utcnow

SOURCE = "internal"


def _usernames(session: Session) -> dict[int, str]:
    return {i: name for i, name in session.execute(select(Account.id, Account.username))}


class VolumeBurstSource:
    name = "volume_burst"
    more = False

    def __init__(self, lookback: timedelta = timedelta(hours=48)) -> None:
        self.lookback = lookback

    def fetch(self, session: Session) -> list[RawEvent]:
        now = utcnow()
        latest_hour = floor_hour(now) - HOUR  # only complete hours
        actual = func.coalesce(Forecast.actual_count, TimeBucket.tweet_count)
        rows = session.execute(
            select(
                Forecast.account_id,
                Forecast.target_time,
                Forecast.forecast_time,
                Forecast.predicted_count,
                Forecast.upper_bound_95,
                actual.label("actual"),
            )
            .outerjoin(
                TimeBucket,
                and_(
                    TimeBucket.account_id == Forecast.account_id,
                    TimeBucket.bucket_start == Forecast.target_time,
                    TimeBucket.granularity == "hourly",
                ),
            )
            .where(
                Forecast.target_time >= now - self.lookback,
                Forecast.target_time <= latest_hour,
                Forecast.upper_bound_95.is_not(None),
            )
        ).all()
        newest: dict[tuple[int, Any], Any] = {}
        for row in rows:
            key = (row.account_id, row.target_time)
            if key not in newest or row.forecast_time > newest[key].forecast_time:
                newest[key] = row
        names = _usernames(session)
        events = []
        for (account_id, hour), row in sorted(newest.items()):
            if row.actual is None or row.actual <= row.upper_bound_95:
                continue
            username = names.get(account_id)
            events.append(
                RawEvent(
                    source=SOURCE,
                    source_id=f"volume_burst:{username or account_id}:{hour:%Y-%m-%dT%H}",
                    type="volume_burst",
                    created_at=hour + HOUR,
                    account=username,
                    text=(
                        f"{row.actual} posts in the hour from {hour:%Y-%m-%d %H:00} UTC, above "
                        f"the forecast's 95% upper bound {row.upper_bound_95:g} "
                        f"(expected {row.predicted_count:.1f})"
                    ),
                    data={
                        "volume_actual": float(row.actual),
                        "volume_upper": float(row.upper_bound_95),
                        "volume_ratio": float(row.actual) / max(float(row.upper_bound_95), 1.0),
                    },
                )
            )
        return events

    def commit(self, session: Session) -> None:
        return None


def _shift_id(shift: RegimeShift, username: str | None) -> str:
    """A shift's identity, not its row id: on SQLite a vanished shift's id is handed to the
    next row stored, whose alert dedup would then drop as already seen (and a removed
    account's ids to the next account added; bursts are keyed by handle for that reason)."""
    return (
        f"regime_shift:{username or shift.account_id}:{shift.count_rule}:{shift.rule}:"
        f"{shift.change_at:%Y-%m-%dT%H:%M}:{shift.direction}"
    )


class RegimeShiftSource:
    """Regime shifts that `musktracker regimes` stored (evaluation/regimes.py) lately."""

    name = "regime_shift"
    more = False

    def __init__(self, lookback: timedelta = timedelta(days=7)) -> None:
        self.lookback = lookback

    def fetch(self, session: Session) -> list[RawEvent]:
        shifts = session.scalars(
            select(RegimeShift)
            .where(RegimeShift.detected_at >= utcnow() - self.lookback)
            .order_by(RegimeShift.detected_at)
        )
        names = _usernames(session)
        return [
            RawEvent(
                source=SOURCE,
                source_id=_shift_id(shift, names.get(shift.account_id)),
                type="regime_shift",
                created_at=shift.detected_at,
                account=names.get(shift.account_id),
                text=_describe_shift(shift),
            )
            for shift in shifts
        ]

    def commit(self, session: Session) -> None:
        return None


def _describe_shift(shift: RegimeShift) -> str:
    before = "unknown" if shift.level_before is None else f"{shift.level_before:.0f}"
    return (
        f"posting level went {shift.direction} ({shift.rule}) on {shift.change_at:%Y-%m-%d}: "
        f"{before} -> {shift.level_after or 0:.0f} posts a day"
    )


class SentimentSwingSource:
    name = "sentiment_swing"
    more = False

    def __init__(self, history_days: int = 14, min_posts: int = 10) -> None:
        self.history_days = history_days
        self.min_posts = min_posts

    def fetch(self, session: Session) -> list[RawEvent]:
        """Scored posts of the last `history_days` + 1 days, by post time (prediction time
        when the post time is unknown)."""
        now = utcnow()
        start = now - timedelta(days=self.history_days + 1)
        when = func.coalesce(SentimentPrediction.posted_at, SentimentPrediction.created_at)
        rows = session.execute(
            select(
                SentimentPrediction.posted_at,
                SentimentPrediction.created_at,
                SentimentPrediction.label,
                SentimentPrediction.account_id,
            ).where(when >= start)
        ).all()
        by_account: dict[int | None, dict[int, list[int]]] = {}
        for posted_at, created_at, label, owner in rows:
            at = posted_at or created_at
            if at < start:
                continue
            day = int((now - at).total_seconds() // 86400)
            total_neg = by_account.setdefault(owner, {}).setdefault(day, [0, 0])
            total_neg[0] += 1
            total_neg[1] += label == "negative"
        names = _usernames(session)
        events = []
        for account_id, days in by_account.items():
            event = self._swing(account_id, days, names, now)
            if event is not None:
                events.append(event)
        return events

    def _swing(
        self, account_id: int | None, days: dict[int, list[int]], names: dict[int, str], now: Any
    ) -> RawEvent | None:
        today = days.get(0)
        history = [n / t for d, (t, n) in days.items() if 1 <= d <= self.history_days and t >= 3]
        if today is None or today[0] < self.min_posts or len(history) < 7:
            return None
        share = today[1] / today[0]
        mean = statistics.fmean(history)
        spread = max(2 * statistics.pstdev(history), 0.05)
        if abs(share - mean) <= spread:
            return None
        direction = "more" if share > mean else "less"
        account = names.get(account_id) if account_id is not None else None
        return RawEvent(
            source=SOURCE,
            source_id=f"sentiment_swing:{account or account_id}:{now:%Y-%m-%dT%H}",
            type="sentiment_swing",
            created_at=now,
            account=account,
            text=(
                f"{share:.0%} of the last 24 hours' posts are negative, {direction} than the "
                f"usual {mean:.0%} +/- {spread:.0%}"
            ),
            data={"negative_share": share, "negative_share_usual": mean},
        )

    def commit(self, session: Session) -> None:
        return None
