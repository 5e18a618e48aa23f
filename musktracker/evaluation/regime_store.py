"""Detected regime shifts in the database: each detection run on all the data brings an
account's rows for its counting rule up to date, so the table always says what the newest
run found. Alerts found again keep their rows (and ids, which signals refer to); only
vanished alerts are deleted and new ones added. A replay of a past moment (`--as-of`) is
read-only: it would otherwise replace today's alerts with those known back then."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from musktracker.db.models import Account
from musktracker.db.models import RegimeShift as RegimeShiftRow
from musktracker.evaluation.regimes import RegimeShift, daily_counts, detect_shifts, too_short
from musktracker.features.buckets import bucket_span, hourly_counts
from musktracker.features.count_rule import CountRule
from musktracker.forecasting.errors import ForecastError
from musktracker.utc import HOUR, ensure_utc, utcnow


@dataclass
class RegimeReport:
    """The shifts of every rule found on an account's counts up to `data_end`."""

    account: str
    count_rule: str
    data_end: datetime | None
    rules: dict[str, list[RegimeShift]]
    daily: pd.Series | None = field(default=None, repr=False)
    """Posts per complete day the rules ran on (a detection run's; not in the JSON), for the
    regime chart."""
    too_short: dict[str, str] = field(default_factory=dict)
    """Rules the counts are too short for, with what they need (a detection run's; not in
    the JSON)."""

    def as_json(self) -> dict[str, Any]:
        """The shape of `musktracker regimes --json` and `GET .../regimes`."""
        return {
            "account": self.account,
            "count_rule": self.count_rule,
            "data_end": self.data_end.isoformat() if self.data_end else None,
            "rules": {r: [s.as_json() for s in shifts] for r, shifts in self.rules.items()},
        }


def _key(rule: str, change_at: datetime, detected_at: datetime, direction: str) -> tuple[Any, ...]:
    return rule, ensure_utc(change_at), ensure_utc(detected_at), direction


def store_shifts(
    session: Session, account_id: int, count_rule: str, shifts: dict[str, list[RegimeShift]]
) -> int:
    """Make the stored shifts of every rule in `shifts` equal to `shifts`: rows of alerts
    found again are kept (same id; their levels refreshed), vanished ones deleted, new ones
    added. Returns the number of rows added."""
    now: datetime = utcnow()
    added = 0
    for rule, found in shifts.items():
        stored = {
            _key(row.rule, row.change_at, row.detected_at, row.direction): row
            for row in session.scalars(
                select(RegimeShiftRow).where(
                    RegimeShiftRow.account_id == account_id,
                    RegimeShiftRow.rule == rule,
                    RegimeShiftRow.count_rule == count_rule,
                )
            )
        }
        wanted = {_key(rule, s.change_at, s.detected_at, s.direction): s for s in found}
        vanished = [row.id for key, row in stored.items() if key not in wanted]
        if vanished:
            session.execute(delete(RegimeShiftRow).where(RegimeShiftRow.id.in_(vanished)))
        for key, s in wanted.items():
            row = stored.get(key)
            if row is not None:
                row.level_before, row.level_after = s.level_before, s.level_after
                continue
            session.add(
                RegimeShiftRow(
                    account_id=account_id,
                    rule=rule,
                    count_rule=count_rule,
                    change_at=s.change_at,
                    detected_at=s.detected_at,
                    direction=s.direction,
                    level_before=s.level_before,
                    level_after=s.level_after,
                    computed_at=now,
                )
            )
            added += 1
    session.flush()
    return added


def detect_and_store(
    session: Session, account: Account, rule: CountRule, end: datetime | None = None
) -> RegimeReport:
    """Run every rule on the account's hourly counts before `end`. Without `end` (all the
    data) the stored shifts are brought up to date with what it finds (so running it twice
    leaves the same rows); with `end` (a replay of a past moment) nothing is stored, so the
    alerts of today, which signals read, stay as they are."""
    counts = hourly_counts(session, account.id, rule, end=end)
    if counts.empty:
        raise ForecastError(f"account {account.username!r} has no hourly buckets"
                            + (f" before {end.isoformat()}" if end else ""))
    if not counts.any():
        raise ForecastError(
            f"--kinds {rule.name!r}: no posts of @{account.username} match this counting rule"
            + (f" before {end.isoformat()}" if end else "")
        )
    found = detect_shifts(counts)
    if end is None:
        store_shifts(session, account.id, rule.name, found)
    return RegimeReport(
        account.username, rule.name, counts.index[-1] + HOUR, found, daily_counts(counts),
        too_short(counts),
    )


def daily_posts(session: Session, account: Account, rule: CountRule) -> pd.Series:
    """Posts per complete UTC day under the counting rule: what the regime chart of the
    stored alerts draws them on."""
    return daily_counts(hourly_counts(session, account.id, rule))


def regime_title(report: RegimeReport) -> str:
    """The regime chart's title: whose posts, which counting rule, how many alerts."""
    alerts = ", ".join(f"{rule} {len(shifts)}" for rule, shifts in report.rules.items())
    return (f"@{report.account}: posts per day ({report.count_rule}) and regime shifts"
            + (f" ({alerts})" if alerts else ""))


def stored_report(session: Session, account: Account, rule: CountRule) -> RegimeReport:
    """What the newest detection run stored for the account and counting rule."""
    rows = session.scalars(
        select(RegimeShiftRow)
        .where(RegimeShiftRow.account_id == account.id, RegimeShiftRow.count_rule == rule.name)
        .order_by(RegimeShiftRow.rule, RegimeShiftRow.change_at)
    ).all()
    rules: dict[str, list[RegimeShift]] = {}
    for row in rows:
        rules.setdefault(row.rule, []).append(
            RegimeShift(row.rule, row.change_at, row.detected_at, row.direction,
                        row.level_before, row.level_after if row.level_after is not None else 0.0)
        )
    span = bucket_span(session, account.id)
    return RegimeReport(account.username, rule.name, span[1] + HOUR if span else None, rules)
