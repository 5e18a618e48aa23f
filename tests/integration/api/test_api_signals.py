"""Signals routes on the real app and a real database (SQLite and PostgreSQL): inbound events
run through the real pipeline (rules/rules.yml), are listed newest first with pagination,
and bad bodies are 413/422 naming the field with nothing written."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from musktracker.db.models import Signal, SignalEvent
from musktracker.db.session import session_scope
from tests.integration.api.conftest import Api, build_api


@pytest.fixture
def signals_api(engine: Engine, db_url: str) -> Iterator[Api]:
    # No provider calls: enrichment talks to DexScreener/GoPlus, which are not reachable here.
    yield from build_api(engine, db_url, signals_enrich=False, api_max_body_bytes=20_000)


def _event(n: int, **changes: Any) -> dict[str, Any]:
    return {
        "source": "partner",
        "source_id": f"ev-{n}",
        "type": "external",
        "created_at": f"2026-01-0{n}T12:00:00Z",
        "account": "elonmusk",
        "text": f"Launching $DOGE{n} on the moon, partner note {n}",
        "symbol": f"DOGE{n}",
        **changes,
    }


def _count(api: Api, model: type) -> int:
    with session_scope(api.engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_ingested_events_are_listed_newest_first(signals_api: Api) -> None:
    one = signals_api.post("/v1/signals/ingest", json=_event(1))
    assert one.status_code == 200, one.text
    assert one.json()["received"] == 1 and one.json()["stored"] == 1
    many = signals_api.post("/v1/signals/ingest", json=[_event(2), _event(3)])
    assert many.status_code == 200, many.text
    assert many.json()["stored"] == 2
    assert _count(signals_api, SignalEvent) == 3

    page = signals_api.get("/v1/events?limit=2").json()
    assert [e["symbol"] for e in page["items"]] == ["DOGE3", "DOGE2"]
    assert page["next_offset"] == 2
    rest = signals_api.get("/v1/events?limit=2&offset=2").json()
    assert [e["symbol"] for e in rest["items"]] == ["DOGE1"] and rest["next_offset"] is None
    keys = {e["event_key"] for e in page["items"] + rest["items"]}

    signals = signals_api.get("/v1/signals?limit=10").json()["items"]
    assert {s["event_key"] for s in signals} == keys
    assert set(many.json()["scores"]) | set(one.json()["scores"]) == keys
    assert all(0 <= s["score"] <= 100 for s in signals)
    # The same event again is a duplicate: no new event or signal row.
    again = signals_api.post("/v1/signals/ingest", json=_event(1)).json()
    assert again["stored"] == 0 and again["dropped"] == {"duplicate": 1}
    assert _count(signals_api, SignalEvent) == 3 and _count(signals_api, Signal) == 3


def test_bad_events_name_the_field_and_write_nothing(signals_api: Api) -> None:
    cases: dict[str, Any] = {
        "body[1].created_at": [_event(1), _event(2, created_at="2026-01-02T12:00:00")],
        "body.sentiment": _event(1, sentiment=3),
        # Valid ISO, but past datetime.max once converted to UTC (was a 500).
        "body.created_at": _event(1, created_at="9999-12-31T20:00:00-05:00"),
        "body.colour": _event(1, colour="red"),
        "body.source_id": {k: v for k, v in _event(1).items() if k != "source_id"},
        "body[0]": ["not an event"],
        "body": [],
    }
    for field, payload in cases.items():
        response = signals_api.post("/v1/signals/ingest", json=payload)
        assert response.status_code == 422, (field, response.text)
        assert response.json()["error"]["details"][0]["field"] == field
    malformed = signals_api.post(
        "/v1/signals/ingest", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 422
    too_big = signals_api.post("/v1/signals/ingest", json=[_event(1)] * 200)
    assert too_big.status_code == 413
    assert _count(signals_api, SignalEvent) == 0 and _count(signals_api, Signal) == 0


def test_signals_routes_check_scopes_and_pages(signals_api: Api) -> None:
    assert signals_api.post("/v1/signals/ingest", key="read", json=_event(1)).status_code == 403
    assert signals_api.post("/v1/signals/ingest", key=None, json=_event(1)).status_code == 401
    assert signals_api.get("/v1/signals", key=None).status_code == 401
    assert signals_api.get("/v1/events").json() == {
        "items": [], "limit": 50, "offset": 0, "next_offset": None
    }
    bad = signals_api.get("/v1/signals?limit=0")
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["field"] == "query.limit"


def test_ingest_keeps_one_pipeline_whose_rules_follow_the_file(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    """The pipeline (rules, HTTP and Redis clients) is built once per process, not per
    request, and an edit of the rules file still reaches the next request."""
    rules = tmp_path / "rules.yml"
    rule = '- {{name: seen, condition: "cashtag_count >= 0", score: {}, reason: seen}}\n'
    rules.write_text(rule.format(5))
    for api in build_api(engine, db_url, signals_enrich=False, rules_path=str(rules),
                         rules_reload_seconds=0.01):
        services = api.app.state.services
        first = api.post("/v1/signals/ingest", json=_event(1)).json()["scores"]
        pipeline = services.signal_pipeline()
        rules.write_text(rule.format(50) + "# edited\n")
        time.sleep(0.05)  # past RULES_RELOAD_SECONDS
        second = api.post("/v1/signals/ingest", json=_event(2)).json()["scores"]
        assert services.signal_pipeline() is pipeline
        assert max(second.values()) > max(first.values())
