"""Cross-cutting behaviour on the real app: request ids, body limits, error bodies without
stack traces, CORS, Prometheus metrics, readiness, rate limits and the response cache, with
the in-memory and the real Redis implementations."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from sqlalchemy.engine import Engine

from tests.integration.api.conftest import REDIS_URL, Api, build_api

WINDOW = "start=2022-11-05T00:00:00Z&end=2022-11-08T00:00:00Z"


def _redis_or_skip() -> str:
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")
    return REDIS_URL


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str | None:
    """None for the in-memory rate limiter and cache, or the Redis URL."""
    return None if request.param == "memory" else _redis_or_skip()


def test_request_id_is_echoed_or_made_and_logged(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    given = api.client.get("/healthz", headers={"X-Request-ID": "trace-42"})
    assert given.headers["X-Request-ID"] == "trace-42"
    made = api.get("/v1/accounts").headers["X-Request-ID"]
    assert len(made) == 32 and made != "trace-42"
    hostile = api.client.get("/healthz", headers={"X-Request-ID": "x" * 500})
    assert hostile.headers["X-Request-ID"] != "x" * 500
    logged = capsys.readouterr()
    lines = [ln for ln in (logged.out + logged.err).splitlines() if made in ln]
    assert lines and "route=/v1/accounts" in lines[0] and "status=200" in lines[0]


def test_errors_have_one_shape_and_no_stack_trace(
    api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    def explode() -> None:
        raise RuntimeError("secret internals at /srv/db password=hunter2")

    api.app.add_api_route("/boom", explode)
    response = api.client.get("/boom")
    assert response.status_code == 500
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == "internal_error"
    assert "hunter2" not in response.text and "Traceback" not in response.text
    request_id = response.headers["X-Request-ID"]
    logged = capsys.readouterr()
    assert any(
        request_id in ln and "unhandled error" in ln
        for ln in (logged.out + logged.err).splitlines()
    )
    for status, response in {
        404: api.client.get("/v2/nothing"),
        405: api.client.put("/healthz"),
    }.items():
        assert response.status_code == status
        assert set(response.json()["error"]) == {"code", "message", "details"}
    # Allow lists every method of the path (GET and POST are routes of their own here).
    put = api.client.put("/v1/accounts")
    assert put.status_code == 405
    assert put.headers["Allow"] == "GET, POST"
    assert "(allowed: GET, POST)" in put.json()["error"]["message"]
    assert api.client.head("/healthz").status_code == 200


def test_oversized_and_malformed_bodies(engine: Engine, db_url: str) -> None:
    for api in build_api(engine, db_url, api_max_body_bytes=2000):
        big = {
            "name": "x" * 5000,
            "start": "2022-11-06T00:00:00Z",
            "end": "2022-11-06T01:00:00Z",
            "intensity": 0.5,
        }
        declared = api.post("/v1/exogenous-events", json=big)
        assert declared.status_code == 413
        assert "2000 bytes" in declared.json()["error"]["message"]
        assert declared.json()["error"]["details"] == {"limit": 2000}
        # Counted under its route (it was `<unmatched>`: refused before routing).
        assert (
            'musktracker_http_requests_total{method="POST",route="/v1/exogenous-events",'
            'status="413"}' in api.client.get("/metrics").text
        )
        # Refused before routing, yet counted under its route (it was `<unmatched>`).
        assert (
            'musktracker_http_requests_total{method="POST",route="/v1/exogenous-events",'
            'status="413"}' in api.client.get("/metrics").text
        )

        def chunks() -> Iterator[bytes]:
            yield b'{"name": "'
            for _ in range(10):
                yield b"y" * 500
            yield b'"}'

        streamed = api.post(
            "/v1/exogenous-events", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        assert streamed.json()["error"]["code"] == "payload_too_large"
        assert streamed.json()["error"]["details"] == {"limit": 2000}  # as API.md says
        broken = api.post(
            "/v1/exogenous-events",
            content=b'{"name": ',
            headers={"Content-Type": "application/json"},
        )
        assert broken.status_code == 422
        assert broken.json()["error"]["details"][0]["field"] == "body"
        # A body in another media type is 415 (it was a 422 quoting a Python bytes literal);
        # a media type with parameters or a +json suffix is still JSON.
        form = api.post("/v1/exogenous-events", content=b"name=x", headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        assert form.status_code == 415, form.text
        assert form.json()["error"]["code"] == "unsupported_media_type"
        assert form.json()["error"]["details"][0]["field"] == "header.content-type"
        for media in ("application/json; charset=utf-8", "application/merge-patch+json"):
            as_json = api.post("/v1/exogenous-events", content=b"{}", headers={
                "Content-Type": media})
            assert as_json.status_code == 422, (media, as_json.text)  # parsed, then validated
        assert api.get("/v1/exogenous-events").json() == []


def test_the_key_is_checked_before_the_body(engine: Engine, db_url: str) -> None:
    """FastAPI parses a body before any dependency runs: a client without a valid key learnt
    about its body (422, 415, 413) instead of getting 401."""
    as_json = {"Content-Type": "application/json"}
    bodies: dict[str, dict[str, Any]] = {
        "malformed JSON": {"content": b'{"name": ', "headers": as_json},
        "lone surrogate": {"content": b'{"name": "\\ud800"}', "headers": as_json},
        "form": {"content": b"name=x", "headers": {"Content-Type": "text/plain"}},
        "oversized": {"json": {"name": "x" * 5000}},
    }
    for api in build_api(engine, db_url, api_max_body_bytes=2000):
        for what, body in bodies.items():
            for key in (None, "mt_00000000_not-a-real-key"):
                headers = {**body.get("headers", {}), **({"X-API-Key": key} if key else {})}
                sent = {**body, "headers": headers}
                answer = api.client.post("/v1/exogenous-events", **sent)
                assert answer.status_code == 401, (what, key, answer.text)
            # A read-only key is refused for its scope, also before the body is looked at.
            assert api.post("/v1/exogenous-events", key="read", **body).status_code == 403, what
        assert api.get("/v1/exogenous-events").json() == []


def test_cors_is_off_by_default_and_configurable(engine: Engine, db_url: str) -> None:
    preflight = {
        "Origin": "https://dash.example",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "X-API-Key",
    }
    for api in build_api(engine, db_url):
        off = api.client.options("/v1/accounts", headers=preflight)
        assert "access-control-allow-origin" not in off.headers
    for api in build_api(engine, db_url, api_cors_origins="https://dash.example"):
        on = api.client.options("/v1/accounts", headers=preflight)
        assert on.headers["access-control-allow-origin"] == "https://dash.example"
        other = api.client.options(
            "/v1/accounts", headers={**preflight, "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers
        # Refused in the API's error shape, naming the header and value (it was plain text).
        assert other.status_code == 400
        assert other.json()["error"] == {
            "code": "bad_request",
            "message": "CORS preflight refused: header.origin 'https://evil.example' not allowed",
            "details": [{"field": "header.origin", "value": "https://evil.example"}],
        }
        put = api.client.options(
            "/v1/accounts", headers={**preflight, "Access-Control-Request-Method": "PUT"}
        )
        assert put.status_code == 400
        assert put.json()["error"]["details"] == [
            {"field": "header.access-control-request-method", "value": "PUT"}
        ]
        assert put.headers["X-Request-ID"]


def test_metrics_count_requests_by_route_template_and_status(api: Api) -> None:
    api.get("/v1/accounts")
    api.get("/v1/accounts/nobody/counts?" + WINDOW)
    text = api.client.get("/metrics").text
    assert 'musktracker_http_requests_total{method="GET",route="/v1/accounts",status="200"}' in text
    assert (
        'musktracker_http_request_duration_seconds_bucket{le="0.05",method="GET",'
        'route="/v1/accounts/{username}/counts",status="404"}' in text
    )
    assert "/v1/accounts/nobody" not in text


def test_readiness_reports_each_dependency(engine: Engine, db_url: str) -> None:
    for api in build_api(engine, db_url, redis_url="redis://127.0.0.1:1/0"):
        down = api.client.get("/readyz")
        assert down.status_code == 503
        assert down.json()["checks"]["database"] == "ok"
        assert down.json()["checks"]["redis"].startswith("failed")
        # Keyed routes need Redis for the rate limit: 503 naming it, not a 500.
        keyed = api.get("/v1/accounts")
        assert keyed.status_code == 503, keyed.text
        assert keyed.json()["error"]["code"] == "dependency_unavailable"
        assert "Redis (REDIS_URL) did not answer" in keyed.json()["error"]["message"]
        assert keyed.headers["Retry-After"] == "5"
    for api in build_api(engine, db_url, redis_url=_redis_or_skip()):
        assert api.client.get("/readyz").json() == {
            "status": "ready",
            "checks": {
                "database": "ok",
                "redis": "ok",
                "signal_rules": "ok",
                "sentiment_model": "not registered",
            },
        }
    # The rules file is resolved from the working directory: a server started elsewhere
    # cannot run POST /v1/signals/ingest and must not claim to be ready.
    for api in build_api(engine, db_url, rules_path="no/such/rules.yml"):
        lost = api.client.get("/readyz")
        assert lost.status_code == 503
        assert lost.json()["checks"]["signal_rules"].startswith("failed: ")
        assert "no/such/rules.yml" in lost.json()["checks"]["signal_rules"]


def test_rate_limit_answers_429_with_retry_after(
    engine: Engine, db_url: str, backend: str | None
) -> None:
    for api in build_api(engine, db_url, redis_url=backend, api_rate_limit_per_minute=3):
        assert [api.get("/v1/accounts").status_code for _ in range(3)] == [200] * 3
        limited = api.get("/v1/accounts")
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert limited.json()["error"]["code"] == "rate_limited"
        # Another key has its own window.
        assert api.get("/v1/accounts", key="admin").status_code == 200


def test_cache_serves_repeated_gets(engine: Engine, db_url: str, backend: str | None) -> None:
    for api in build_api(engine, db_url, redis_url=backend, api_cache_ttl_seconds=30):
        name = "c" + uuid.uuid4().hex[:8]
        first = api.get("/v1/accounts").json()
        assert api.post("/v1/accounts", json={"username": name}).status_code == 201
        # Within the TTL the cached list is served; an uncached query sees the new account.
        assert api.get("/v1/accounts").json() == first
        assert name in [a["username"] for a in api.get("/v1/accounts?fresh=1").json()]
        text = api.client.get("/metrics").text
        assert 'musktracker_api_cache_total{result="hit"}' in text
