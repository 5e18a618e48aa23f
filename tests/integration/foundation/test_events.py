from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from musktracker.accounts import add_account
from musktracker.db.models import ExogenousEvent, Feature
from musktracker.db.session import session_scope
from musktracker.enrich.events import EventError, NewEvent, add_event, delete_event
from musktracker.ingest.importer import import_archive
from musktracker.utc import NaiveDatetimeError, parse_utc


@pytest.fixture
def loaded(engine: Engine, posts_sample: Path) -> Engine:
    with session_scope(engine) as s:
        add_account(s, "elonmusk")
        import_archive(s, "elonmusk", posts_sample)
    return engine


def _intensity_at(engine: Engine, when: str) -> tuple[float, int]:
    with session_scope(engine) as s:
        row = s.execute(
            select(Feature.event_intensity, Feature.events_in_window).where(
                Feature.reference_time == parse_utc(when)
            )
        ).one()
    return row[0], row[1]


def test_adding_and_deleting_an_event_refreshes_features(loaded: Engine) -> None:
    event = NewEvent(
        name="Twitter layoffs",
        start=parse_utc("2022-11-04T15:00:00Z"),
        end=parse_utc("2022-11-04T18:00:00Z"),
        intensity=0.9,
        category="corporate",
    )
    assert _intensity_at(loaded, "2022-11-04T16:00:00Z") == (0.0, 0)
    with session_scope(loaded) as s:
        event_id = add_event(s, event).id
    assert _intensity_at(loaded, "2022-11-04T14:00:00Z") == (0.0, 0)
    assert _intensity_at(loaded, "2022-11-04T15:00:00Z") == (0.9, 1)
    assert _intensity_at(loaded, "2022-11-05T17:00:00Z") == (0.9, 1)
    assert _intensity_at(loaded, "2022-11-05T18:00:00Z") == (0.0, 0)
    with session_scope(loaded) as s:
        delete_event(s, event_id)
    assert _intensity_at(loaded, "2022-11-04T15:00:00Z") == (0.0, 0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"intensity": 1.5}, "--intensity 1.5 is outside 0..1"),
        ({"intensity": -0.1}, "--intensity -0.1 is outside 0..1"),
        ({"end": parse_utc("2022-11-04T15:00:00Z")}, "must be after --start"),
        ({"name": "  "}, "--name must not be empty"),
        ({"name": "multi\nline"}, r"--name 'multi\\nline' contains the control character '\\n'"),
        ({"category": "a\tb"}, r"--category 'a\\tb' contains the control character"),
        ({"category": " "}, "--category ' ' is blank; leave it out for none"),
        ({"source": "x\x00"}, r"--source 'x\\x00' contains the control character"),
    ],
)
def test_invalid_events_write_nothing(
    loaded: Engine, change: dict[str, object], message: str
) -> None:
    base: dict[str, object] = {
        "name": "x",
        "start": parse_utc("2022-11-04T15:00:00Z"),
        "end": parse_utc("2022-11-04T16:00:00Z"),
        "intensity": 0.5,
    }
    with pytest.raises(EventError, match=message), session_scope(loaded) as s:
        add_event(s, NewEvent(**{**base, **change}))  # type: ignore[arg-type]
    with session_scope(loaded) as s:
        assert s.scalar(select(func.count()).select_from(ExogenousEvent)) == 0


def test_naive_event_time_is_refused(loaded: Engine) -> None:
    naive = NewEvent("x", datetime(2022, 11, 4), parse_utc("2022-11-05T00:00:00Z"), 0.5)
    with pytest.raises(NaiveDatetimeError, match="--start"), session_scope(loaded) as s:
        add_event(s, naive)


def test_unknown_event_id(loaded: Engine) -> None:
    with pytest.raises(EventError, match="no event with id 99"), session_scope(loaded) as s:
        delete_event(s, 99)
