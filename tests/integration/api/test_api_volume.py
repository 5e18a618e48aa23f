"""Volume routes on the real app and a real database (SQLite and PostgreSQL) with real
@elonmusk posts: the answers equal `musktracker forecast/regimes --json`, bad input is a 422
naming the field, and the window's bracket probabilities sum to one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from musktracker.accounts import add_account
from musktracker.api.metrics import CACHE
from musktracker.api.schemas import HourlyForecastOut, WindowForecastOut
from musktracker.cli.main import app as cli
from musktracker.db.models import Forecast, RegimeShift
from musktracker.db.session import session_scope
from musktracker.ingest.importer import import_archive
from tests.integration.api.conftest import Api, build_api
from tests.shifted_posts import shifted_copy

BASE = "/v1/accounts/elonmusk"
CHEAP = "model=hour_of_day_mean"


@pytest.fixture
def volume_api(
    engine: Engine, db_url: str, posts_sample: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, cli_env: str,
) -> Iterator[Api]:
    """The app over the first 3,000 real posts; the CLI sees the same database and artifacts."""
    with session_scope(engine) as session:
        add_account(session, "elonmusk", "44196397")
        import_archive(session, "elonmusk", posts_sample)
    monkeypatch.setenv("ARTIFACT_DIR", str(tmp_path / "artifacts"))
    yield from build_api(engine, db_url, artifact_dir=tmp_path / "artifacts")


def _cli_json(runner: CliRunner, *args: str) -> Any:
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_forecast_equals_the_cli_json_and_stores_rows(volume_api: Api, runner: CliRunner) -> None:
    response = volume_api.get(f"{BASE}/forecast?horizon=6h&{CHEAP}")
    assert response.status_code == 200, response.text
    body = response.json()
    HourlyForecastOut.model_validate(body)  # what OpenAPI documents, key for key
    assert body["model"] == "hour_of_day_mean" and body["account"] == "elonmusk"
    assert len(body["hours"]) == 6
    first = body["hours"][0]
    assert first["lower_95"] <= first["mean"] <= first["upper_95"]
    assert len(first["quantiles"]) == 23
    assert body == _cli_json(runner, "forecast", "--json", "--horizon", "6h",
                             "--model", "hour_of_day_mean")
    with session_scope(volume_api.engine) as session:
        assert session.scalar(select(func.count()).select_from(Forecast)) == 6


def test_forecast_validation_names_the_field(volume_api: Api) -> None:
    cases = {
        f"{BASE}/forecast?horizon=soon": "query.horizon",
        f"{BASE}/forecast?horizon=100000h": "query.horizon",
        f"{BASE}/forecast?model=crystal_ball": "query.model",
        f"{BASE}/forecast.png?horizon=0": "query.horizon",
        "/v1/accounts/bad%20name/forecast": "path.username",
    }
    for path, field in cases.items():
        response = volume_api.get(path)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["error"]["details"][0]["field"] == field, path
        # One shape for every 422, whether pydantic or the shared domain code found it.
        assert response.json()["error"]["message"].startswith(f"{field}: "), response.text
    assert volume_api.get("/v1/accounts/nobody/forecast").status_code == 404
    for query, value in {"horizon=soon": "soon", "model=crystal_ball": "crystal_ball"}.items():
        detail = volume_api.get(f"{BASE}/forecast?{query}").json()["error"]["details"][0]
        assert detail["value"] == value, detail


def test_forecast_png_is_a_fan_chart(volume_api: Api) -> None:
    response = volume_api.get(f"{BASE}/forecast.png?horizon=12h&{CHEAP}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n") and len(response.content) > 5000


def test_window_brackets_sum_to_one_and_match_the_cli(volume_api: Api, runner: CliRunner) -> None:
    # A window that straddles the end of the data: part observed, the rest forecast.
    start, end = "2023-02-19T00:00:00Z", "2023-02-21T00:00:00Z"
    path = f"{BASE}/forecast/window?start={start}&end={end}&{CHEAP}"
    body = volume_api.get(path).json()
    WindowForecastOut.model_validate(body)  # what OpenAPI documents, key for key
    assert (body["account"], body["model"]) == ("elonmusk", "hour_of_day_mean")
    assert body["observed"] > 0
    assert sum(b["probability"] for b in body["brackets"]) == pytest.approx(1.0)
    assert body == _cli_json(runner, "forecast", "--json", "--window", f"{start}/{end}",
                             "--brackets", "20", "--model", "hour_of_day_mean")
    edges = volume_api.get(path + "&brackets=0,50,100,150").json()["brackets"]
    assert [b["low"] for b in edges] == [0, 50, 100, 150]
    assert sum(b["probability"] for b in edges) == pytest.approx(1.0)
    # A window fully in the past is the observed count with certainty.
    past = volume_api.get(
        f"{BASE}/forecast/window?start=2022-11-05T00:00:00Z&end=2022-11-06T00:00:00Z"
    ).json()
    assert past["mean"] == past["observed"] > 0
    assert past["model"] is None  # nothing was forecast, so no model answered
    WindowForecastOut.model_validate(past)


def test_window_validation_names_the_field(volume_api: Api) -> None:
    window = f"{BASE}/forecast/window"
    day = "start=2023-02-19T00:00:00Z&end=2023-02-20T00:00:00Z"
    cases = {
        f"{window}?start=2023-02-20T00:00:00Z&end=2023-02-19T00:00:00Z": "query.end",
        f"{window}?start=2023-02-19T00:00:00&end=2023-02-20T00:00:00Z": "query.start",
        f"{window}?start=2023-02-19T00:00:00Z": "query.end",
        f"{window}?{day}&brackets=-5": "query.brackets",
        f"{window}?start=0001-01-01T00:00:00Z&end=2023-02-20T00:00:00Z": "query.end",
        f"{window}?start=0001-01-01T00:00:00%2B00:01&end=2000-01-01T00:00:00Z": "query.start",
        f"{window}?{day}&model=crystal_ball": "query.model",
        f"{window}?start=2023-02-19T00:00:00Z&end=2030-01-01T00:00:00Z": "query.end",
        # before the first post: unknown, not a certain count
        f"{window}?start=2022-10-25T00:00:00Z&end=2022-11-05T00:00:00Z": "query.start",
        # too many brackets of width 1, found after the forecast: its rows are rolled back
        f"{window}?start=2023-02-19T00:00:00Z&end=2023-03-20T00:00:00Z&brackets=1&{CHEAP}":
            "query.brackets",
    }
    for path, field in cases.items():
        response = volume_api.get(path)
        assert response.status_code == 422, (path, response.text)
        assert response.json()["error"]["details"][0]["field"] == field, path
    with session_scope(volume_api.engine) as session:
        assert session.scalar(select(func.count()).select_from(Forecast)) == 0


def test_regimes_serve_what_detection_stored(volume_api: Api, runner: CliRunner) -> None:
    before = volume_api.get(f"{BASE}/regimes").json()
    assert before["account"] == "elonmusk" and before["rules"] == {}
    detected = _cli_json(runner, "regimes", "--json")
    with session_scope(volume_api.engine) as session:
        stored = session.scalar(select(func.count()).select_from(RegimeShift))
    assert stored and stored > 0
    after = volume_api.get(f"{BASE}/regimes").json()
    assert sum(len(v) for v in after["rules"].values()) == stored
    assert after["data_end"] == detected["data_end"]
    assert {r: v for r, v in after["rules"].items()} == {
        r: v for r, v in detected["rules"].items() if v
    }
    assert volume_api.get(f"{BASE}/regimes?kinds=nonsense").status_code == 422
    assert volume_api.get(f"{BASE}/regimes", key=None).status_code == 401


def test_regimes_png_draws_the_stored_shifts(volume_api: Api, runner: CliRunner) -> None:
    _cli_json(runner, "regimes", "--json")
    response = volume_api.get(f"{BASE}/regimes.png")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n") and len(response.content) > 20_000
    bad = volume_api.get(f"{BASE}/regimes.png?kinds=nonsense")
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "query.kinds"
    assert volume_api.get("/v1/accounts/nobody/regimes.png").status_code == 404
    assert volume_api.get(f"{BASE}/regimes.png", key=None).status_code == 401


def test_models_carry_backtest_metrics_and_best_uses_the_winner(
    volume_api: Api, runner: CliRunner
) -> None:
    trained = _cli_json(
        runner, "train", "--json", "--model", "hour_of_day_mean,seasonal_naive_daily",
        "--backtest-windows", "2", "--train-days", "7", "--workers", "1",
    )
    models = volume_api.get("/v1/models?account=elonmusk").json()
    assert {m["model_name"] for m in models} == {"hour_of_day_mean", "seasonal_naive_daily"}
    for model in models:
        metrics = model["metrics"]
        assert metrics["backtest_windows"] == 2
        assert metrics["crps"] > 0 and 0 <= metrics["coverage_95"] <= 1
        detail = volume_api.get(f"/v1/models/{model['id']}").json()
        assert detail["metrics"] == metrics
    best = min(models, key=lambda m: m["metrics"]["crps"])["model_name"]
    assert trained is not None
    assert volume_api.get(f"{BASE}/forecast?horizon=3h").json()["model"] == best


def test_forecast_answers_are_cached(
    engine: Engine, db_url: str, posts_sample: Path, tmp_path: Path
) -> None:
    with session_scope(engine) as session:
        add_account(session, "elonmusk")
        import_archive(session, "elonmusk", posts_sample)
    for api in build_api(engine, db_url, artifact_dir=tmp_path, api_cache_ttl_seconds=60):
        hits = CACHE.labels("hit")._value.get()
        for path in (f"{BASE}/forecast?horizon=4h&{CHEAP}", f"{BASE}/forecast.png?{CHEAP}"):
            first = api.get(path)
            assert first.status_code == 200
            with session_scope(engine) as session:  # a hit does no model work: no new rows
                session.execute(delete(Forecast))
            again = api.get(path)
            assert again.content == first.content
            with session_scope(engine) as session:
                assert session.scalar(select(func.count()).select_from(Forecast)) == 0
        assert CACHE.labels("hit")._value.get() == hits + 2


def test_each_account_gets_its_own_answers_and_a_short_one_is_told_what_is_missing(
    engine: Engine, db_url: str, posts_sample: Path, tmp_path: Path
) -> None:
    """Three accounts behind one cache: each path answers for its account whatever the
    case of its handle; a model a 4-day account is too short for is a 422 naming
    `query.model` (it named `query.train_days`, which the route does not have), and an
    account without posts is a 404 naming it."""
    short = shifted_copy(posts_sample, tmp_path / "short.csv", every=3,
                         since=datetime(2023, 2, 15, 19, tzinfo=UTC))
    with session_scope(engine) as session:
        add_account(session, "elonmusk")
        import_archive(session, "elonmusk", posts_sample)
        add_account(session, "Shorty")
        import_archive(session, "shorty", short)
        add_account(session, "nothing_yet")
    for api in build_api(engine, db_url, artifact_dir=tmp_path, api_cache_ttl_seconds=60):
        counts = "counts?start=2023-02-15T00:00:00Z&end=2023-02-20T00:00:00Z&granularity=day"
        totals = {}
        for name in ("elonmusk", "ElonMusk", "shorty", "SHORTY", "@shorty"):
            body = api.get(f"/v1/accounts/{name}/{counts}").json()
            totals[name] = (body["account"], body["total"])
        assert totals["elonmusk"] == totals["ElonMusk"] and totals["elonmusk"][0] == "elonmusk"
        assert totals["shorty"] == totals["SHORTY"] == totals["@shorty"]
        assert totals["shorty"][0] == "shorty" and 0 < totals["shorty"][1] < totals[
            "elonmusk"][1] / 2
        for name in ("elonmusk", "Shorty"):
            answer = api.get(f"/v1/accounts/{name}/forecast?horizon=3h&{CHEAP}").json()
            assert answer["account"] == name.lower()
        response = api.get("/v1/accounts/Shorty/forecast?model=negative_binomial")
        assert response.status_code == 422, response.text
        (detail,) = response.json()["error"]["details"]
        assert detail["field"] == "query.model" and detail["value"] == "negative_binomial"
        assert detail["message"] == (
            "negative_binomial could not be fitted on @shorty's posts: they start in the hour "
            "from 2023-02-15T16:00Z, only 96 hours before 2023-02-19T16:00Z: negative_binomial "
            "needs at least 192 hours of history, got 96"
        )
        window = "forecast/window?start=2023-02-19T00:00:00Z&end=2023-02-21T00:00:00Z"
        response = api.get(f"/v1/accounts/shorty/{window}&model=hawkes")
        assert response.status_code == 422, response.text
        assert response.json()["error"]["details"][0]["field"] == "query.model"
        for path in ("forecast", window):
            response = api.get(f"/v1/accounts/nothing_yet/{path}")
            assert response.status_code == 404, response.text
            assert response.json()["error"]["message"] == (
                "@nothing_yet has no hourly buckets yet; import or ingest posts first"
            )
