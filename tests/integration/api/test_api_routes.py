"""The real app on a real database: authentication, scopes, every foundation route, and
validation that names the field and leaves the database unchanged."""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from musktracker.cli.main import app
from musktracker.config import get_settings
from musktracker.db.models import Account, ApiKey, ExogenousEvent, ModelMetadata
from musktracker.db.session import session_scope
from musktracker.security.apikeys import revoke_key
from musktracker.signals.outbox import enqueue
from tests.integration.api.conftest import Api

OPEN_ROUTES = {"/healthz", "/readyz", "/metrics", "/docs", "/openapi.json", "/redoc"}
WINDOW = "start=2022-11-05T00:00:00Z&end=2022-11-08T00:00:00Z"


def _csv_counts(path: Path, fmt: str, start: datetime, end: datetime) -> Counter[str]:
    counts: Counter[str] = Counter()
    with path.open() as f:
        for row in csv.DictReader(f):
            at = datetime.fromisoformat(row["created_at"].replace("Z", "+00:00"))
            if start <= at < end:
                counts[at.strftime(fmt)] += 1
    return counts


def _rows(api: Api, model: type) -> int:
    with session_scope(api.engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_every_route_but_health_needs_a_key(api: Api) -> None:
    checked = 0
    for path, operations in api.client.get("/openapi.json").json()["paths"].items():
        # The schema documents 401/429 exactly where they can happen.
        for operation in operations.values():
            assert ("401" in operation["responses"]) == (path not in OPEN_ROUTES), path
            assert ("429" in operation["responses"]) == (path not in OPEN_ROUTES), path
        if path in OPEN_ROUTES:
            continue
        for method in operations:
            concrete = path.replace("{username}", "elonmusk").replace("{event_id}", "1")
            concrete = concrete.replace("{model_id}", "1")
            response = api.client.request(method.upper(), concrete)
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["error"]["code"] == "unauthorized"
            checked += 1
    assert checked >= 8
    for path in ("/healthz", "/readyz", "/metrics"):
        assert api.client.get(path).status_code == 200


def test_bad_and_revoked_keys_are_401(api: Api) -> None:
    bogus = api.client.get("/v1/accounts", headers={"X-API-Key": "mt_00000000_" + "x" * 43})
    assert bogus.status_code == 401
    assert "valid, unrevoked" in bogus.json()["error"]["message"]
    assert api.get("/v1/accounts").status_code == 200
    with session_scope(api.engine) as session:
        read_key = session.scalar(select(ApiKey).where(ApiKey.scopes == "read"))
        assert read_key is not None
        revoke_key(session, str(read_key.id))
    assert api.get("/v1/accounts").status_code == 401


def test_keys_are_stored_only_as_hashes(api: Api) -> None:
    with session_scope(api.engine) as session:
        stored = {k.name: k.key_hash for k in session.scalars(select(ApiKey))}
    assert len(stored) == 3
    for plain in api.keys.values():
        assert plain not in stored.values()
        assert all(plain not in h for h in stored.values())


def test_read_key_cannot_write_and_write_key_can(api: Api) -> None:
    denied = api.post("/v1/accounts", key="read", json={"username": "nasa"})
    assert denied.status_code == 403
    assert "'write'" in denied.json()["error"]["message"]
    assert api.post("/v1/exogenous-events", key="read", json={}).status_code == 403
    assert api.delete("/v1/exogenous-events/1", key="read").status_code == 403
    assert _rows(api, Account) == 0
    created = api.post(
        "/v1/accounts", key="write", json={"username": "@NASA", "x_user_id": "11348282"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["username"] == "nasa"
    assert api.get("/v1/accounts", key="admin").json()[0]["username"] == "nasa"


def test_account_create_validation_and_conflict(api: Api) -> None:
    bad = api.post("/v1/accounts", json={"username": "not a handle!"})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["field"] == "body.username"
    bad_id = api.post("/v1/accounts", json={"username": "nasa", "x_user_id": "12ab"})
    assert bad_id.status_code == 422
    assert bad_id.json()["error"]["details"][0]["field"] == "body.x_user_id"
    extra = api.post("/v1/accounts", json={"username": "nasa", "colour": "red"})
    assert extra.status_code == 422
    assert extra.json()["error"]["details"][0]["field"] == "body.colour"
    assert _rows(api, Account) == 0
    assert api.post("/v1/accounts", json={"username": "nasa"}).status_code == 201
    again = api.post("/v1/accounts", json={"username": "NASA"})
    assert again.status_code == 409
    assert "already tracked" in again.json()["error"]["message"]
    assert _rows(api, Account) == 1


def test_hourly_counts_match_the_real_posts(api_with_posts: Api, posts_sample: Path) -> None:
    start, end = datetime(2022, 11, 5, tzinfo=UTC), datetime(2022, 11, 8, tzinfo=UTC)
    response = api_with_posts.get(f"/v1/accounts/elonmusk/counts?{WINDOW}&granularity=hour")
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["buckets"]) == 72  # zero hours are listed too
    expected = _csv_counts(posts_sample, "%Y-%m-%dT%H", start, end)
    got = {b["start"][:13]: b["count"] for b in body["buckets"] if b["count"]}
    assert got == dict(expected)
    assert body["total"] == sum(expected.values()) > 0


def test_daily_counts_and_zone_offsets(api_with_posts: Api, posts_sample: Path) -> None:
    # 2022-11-05T02:00+02:00 is midnight UTC: the same window as WINDOW.
    query = "start=2022-11-05T02:00:00%2B02:00&end=2022-11-08T00:00:00Z&granularity=day"
    body = api_with_posts.get(f"/v1/accounts/ElonMusk/counts?{query}").json()
    assert body["start"] == "2022-11-05T00:00:00Z"
    expected = _csv_counts(
        posts_sample,
        "%Y-%m-%d",
        datetime(2022, 11, 5, tzinfo=UTC),
        datetime(2022, 11, 8, tzinfo=UTC),
    )
    assert {b["start"][:10]: b["count"] for b in body["buckets"]} == dict(expected)


def test_counts_validation_names_the_field(api_with_posts: Api) -> None:
    cases = {
        "start=2022-11-05T00:00:00&end=2022-11-08T00:00:00Z": "query.start",
        "start=2022-11-08T00:00:00Z&end=2022-11-05T00:00:00Z": "query.end",
        "start=2020-01-01T00:00:00Z&end=2022-11-08T00:00:00Z": "query.end",
        "end=2022-11-08T00:00:00Z": "query.start",
        "start=0001-01-01T00:00:00%2B00:01&end=2022-11-08T00:00:00Z": "query.start",
        f"{WINDOW}&granularity=week": "query.granularity",
        f"{WINDOW}&kinds=original,tweetstorm": "query.kinds",
    }
    for query, field in cases.items():
        response = api_with_posts.get(f"/v1/accounts/elonmusk/counts?{query}")
        assert response.status_code == 422, (query, response.text)
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert error["details"][0]["field"] == field, (query, error)
        assert field.split(".")[1] in error["message"]
    unknown = api_with_posts.get(f"/v1/accounts/nobody/counts?{WINDOW}")
    assert unknown.status_code == 404
    assert "not tracked" in unknown.json()["error"]["message"]
    malformed = api_with_posts.get(f"/v1/accounts/bad-handle!/counts?{WINDOW}")
    assert malformed.status_code == 422
    assert malformed.json()["error"]["details"][0]["field"] == "path.username"


def test_exogenous_events_create_list_delete(api_with_posts: Api) -> None:
    event = {
        "name": "Twitter acquisition closes",
        "start": "2022-11-06T00:00:00Z",
        "end": "2022-11-06T06:00:00Z",
        "intensity": 0.9,
        "category": "corporate",
        "account": "elonmusk",
    }
    created = api_with_posts.post("/v1/exogenous-events", json=event)
    assert created.status_code == 201, created.text
    event_id = created.json()["id"]
    assert created.json()["account"] == "elonmusk"
    listed = api_with_posts.get("/v1/exogenous-events").json()
    assert [e["id"] for e in listed] == [event_id]
    deleted = api_with_posts.delete(f"/v1/exogenous-events/{event_id}")
    assert deleted.status_code == 200
    assert api_with_posts.get("/v1/exogenous-events").json() == []
    missing = api_with_posts.delete(f"/v1/exogenous-events/{event_id}")
    assert missing.status_code == 404
    assert f"no event with id {event_id}" in missing.json()["error"]["message"]
    # Ids are never reused (SQLite needs AUTOINCREMENT for that), so a retried DELETE of
    # the old id cannot remove an event added since.
    again = api_with_posts.post("/v1/exogenous-events", json=event).json()["id"]
    assert again != event_id
    assert api_with_posts.delete(f"/v1/exogenous-events/{event_id}").status_code == 404


def test_exogenous_event_validation_is_the_clis(api_with_posts: Api) -> None:
    good: dict[str, object] = {
        "name": "x",
        "start": "2022-11-06T00:00:00Z",
        "end": "2022-11-06T06:00:00Z",
        "intensity": 0.5,
    }
    cases: list[tuple[dict[str, object], str, str]] = [
        ({"end": "2022-11-05T00:00:00Z"}, "body.end", "must be after start"),
        ({"intensity": 1.5}, "body.intensity", "outside 0..1"),
        ({"name": "   "}, "body.name", "must not be empty"),
        ({"category": ""}, "body.category", "is blank"),
        ({"start": "2022-11-06T00:00:00"}, "body.start", "timezone"),
        ({"account": "nobody"}, "body.account", "not tracked"),
        ({"intensity": "high"}, "body.intensity", "number"),
        # Found by schemathesis: an event past 2261 made the feature refresh fail with 500.
        ({"end": "2263-01-01T00:00:00Z"}, "body.end", "outside 1970..2261"),
        ({"start": "0001-01-01T00:00:00+00:01"}, "body.start", "outside 1970..2261"),
    ]
    for change, field, words in cases:
        response = api_with_posts.post("/v1/exogenous-events", json={**good, **change})
        assert response.status_code == 422, (change, response.text)
        error = response.json()["error"]
        assert error["details"][0]["field"] == field, (change, error)
        assert words in error["message"], (change, error)
        assert "Value error" not in error["message"], error  # our words, not pydantic's
    assert _rows(api_with_posts, ExogenousEvent) == 0


def test_lone_surrogates_are_422_naming_where_and_write_nothing(api_with_posts: Api) -> None:
    # JSON can spell a lone UTF-16 surrogate; Python then holds a str that UTF-8 cannot
    # encode, which used to pass validation and fail as a 500 at the database write.
    cases = {
        "/v1/exogenous-events": (
            '{"name": "launch \\ud800", "start": "2022-11-06T00:00:00Z",'
            ' "end": "2022-11-06T06:00:00Z", "intensity": 0.5}',
            "body.name",
        ),
        "/v1/accounts": ('{"username": "nasa\\udfff"}', "body.username"),
        "/v1/sentiment/samples": (
            '[{"text": "fine", "label": "neutral"},'
            ' {"text": "\\ud83d alone", "label": "positive"}]',
            "body[1].text",
        ),
    }
    for path, (raw, where) in cases.items():
        response = api_with_posts.post(
            path, content=raw.encode(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422, (path, response.text)
        error = response.json()["error"]
        assert error["details"][0]["field"] == "body"
        assert f"{where} holds a lone UTF-16 surrogate" in error["message"], error
    # A surrogate pair is an ordinary character (here an emoji) and passes.
    pair = '{"username": "nasa", "x_user_id": "11348282", "note": "\\ud83d\\ude00"}'
    response = api_with_posts.post(
        "/v1/accounts", content=pair.encode(), headers={"Content-Type": "application/json"}
    )
    assert response.json()["error"]["details"][0]["field"] == "body.note", response.text
    assert _rows(api_with_posts, ExogenousEvent) == 0
    assert _rows(api_with_posts, Account) == 1


def test_models_list_and_detail(api_with_posts: Api) -> None:
    with session_scope(api_with_posts.engine) as session:
        account_id = session.scalar(select(Account.id))
        row = ModelMetadata(
            account_id=account_id,
            model_name="negbin",
            model_version="1",
            training_start_date=datetime(2022, 11, 1, tzinfo=UTC),
            training_end_date=datetime(2022, 11, 20, tzinfo=UTC),
            hyperparameters='{"alpha": 0.5}',
            rmse=1.5,
            mae=1.0,
        )
        session.add(row)
        session.flush()
        model_id = row.id
    listed = api_with_posts.get("/v1/models?account=elonmusk").json()
    assert [m["id"] for m in listed] == [model_id]
    detail = api_with_posts.get(f"/v1/models/{model_id}").json()
    assert detail["hyperparameters"] == {"alpha": 0.5}
    assert detail["metrics"]["rmse"] == 1.5
    assert detail["account"] == "elonmusk"
    assert api_with_posts.get(f"/v1/models/{model_id + 1}").status_code == 404
    assert api_with_posts.get("/v1/models?account=nobody").status_code == 404
    malformed = api_with_posts.get("/v1/models?account=bad%20name")
    assert malformed.status_code == 422
    assert malformed.json()["error"]["details"][0]["field"] == "query.account"


def test_status_answers_what_the_cli_prints(
    api_with_posts: Api, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GET /v1/status is `musktracker status --json` without the database URL."""
    with session_scope(api_with_posts.engine) as session:
        enqueue(session, [("webhook", "e1", {"a": 1})])
    answer = api_with_posts.get("/v1/status")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    account = body["accounts"][0]
    assert (account["username"], account["posts"], account["hourly_bucket_total"]) == (
        "elonmusk", 3000, 3000
    )
    assert body["shared"]["outbox"]["pending"] == 1
    monkeypatch.setenv("DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        printed = CliRunner().invoke(app, ["status", "--json"])
    finally:
        get_settings.cache_clear()
    assert printed.exit_code == 0, printed.output
    cli = json.loads(printed.output)
    assert "database" in cli and "database" not in body
    assert {k: cli[k] for k in ("accounts", "shared")} == body
