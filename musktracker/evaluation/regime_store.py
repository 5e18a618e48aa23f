"""Detected regime shifts in the database: each detection run replaces an account's rows for
its counting rule, so the table always says what the newest run found."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from musktracker.db.models import RegimeShift as RegimeShiftRow
from musktracker.evaluation.regimes import RegimeShift
from musktracker.utc import utcnow


def store_shifts(
    session: Session, account_id: int, count_rule: str, shifts: dict[str, list[RegimeShift]]
) -> int:
    """Replace the stored shifts of every rule in `shifts`; returns rows written."""
    now: datetime = utcnow()
    written = 0
    for rule, found in shifts.items():
        session.execute(
            delete(RegimeShiftRow).where(
                RegimeShiftRow.account_id == account_id,
                RegimeShiftRow.rule == rule,
                RegimeShiftRow.count_rule == count_rule,
            )
        )
        session.add_all(
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
            for s in found
        )
        written += len(found)
    return written
