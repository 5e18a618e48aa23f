"""train, forecast, regimes and evaluate-forecasts end to end on real posts, against a real
SQLite file and a real PostgreSQL schema. Small windows, few samples and cheap models keep
them fast; the speed and accuracy goals live in benchmarks/backtest.py."""

from __future__ import annotations

import csv
import itertools
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, inspect, select
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from musktracker.cli.main import app
from musktracker.db import migrate
from musktracker.db.models import (
    BacktestResult,
    Forecast,
    ModelMetadata,
    RawTweet,
    RegimeShift,
    TimeBucket,
)
from musktracker.db.session import get_engine, session_scope
from musktracker.features.buckets import rebuild_buckets
from musktracker.features.refresh import refresh_after_posts
from musktracker.forecasting.generate import QUANTILE_LEVELS
from musktracker.ingest.archive import PostRecord
from musktracker.ingest.store import store_posts

AS_OF = "2023-02-01T00:00:00+00:00"
CHEAP = "hour_of_day_mean,seasonal_naive_daily"


def _run(runner: CliRunner, *args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _counts(engine: Engine) -> tuple[int, ...]:
    with session_scope(engine) as session:
        return tuple(
            session.scalar(select(func.count()).select_from(table)) or 0
            for table in (ModelMetadata, Forecast, BacktestResult, RegimeShift)
        )


def _posts_between(path: Path, start: datetime, end: datetime) -> int:
    with path.open() as fh:
        times = [datetime.fromisoformat(row["created_at"]) for row in csv.DictReader(fh)]
    return sum(start <= t < end for t in times)


def test_train_backtests_stores_and_reports(
    imported: Engine, runner: CliRunner, tmp_path: Path
) -> None:
    report = tmp_path / "report.png"
    out = _run(
        runner, "train", "--model", f"{CHEAP},ensemble", "--backtest-windows", "3",
        "--train-days", "14", "--samples", "200", "--as-of", AS_OF, "--json",
        "--report", str(report),
    )
    assert out["account"] == "elonmusk" and out["as_of"] == AS_OF
    assert [w["end"] for w in out["windows"]][-1] == AS_OF
    assert len(out["windows"]) == 3
    assert set(out["models"]) == {"hour_of_day_mean", "seasonal_naive_daily", "ensemble"}
    for row in out["models"].values():
        assert set(row) == {
            "rmse", "mae", "mape", "crps", "log_score", "coverage_95", "total_mae",
            "total_crps", "fit_seconds",
        }
        assert row["crps"] > 0 and 0 <= row["coverage_95"] <= 1
    crps = [row["crps"] for row in out["models"].values()]
    assert crps == sorted(crps)
    assert report.stat().st_size > 10_000
    with session_scope(imported) as session:
        assert session.scalar(select(func.count()).select_from(BacktestResult)) == 9
        rows = session.scalars(select(ModelMetadata)).all()
        assert {r.model_name for r in rows} == set(out["models"])
        for r in rows:
            assert r.crps == pytest.approx(out["models"][r.model_name]["crps"])
            assert r.training_end_date == datetime.fromisoformat(AS_OF)
            params = json.loads(r.hyperparameters or "{}")
            assert params["backtest"]["windows"] == 3
            if r.model_name != "ensemble":
                assert r.artifact_path and Path(r.artifact_path).is_file()
            else:
                weights = params["model"]["weights"]
                assert set(weights) <= {"hour_of_day_mean", "seasonal_naive_daily"}
                assert sum(weights.values()) == pytest.approx(1.0)
                assert params["model"]["sharpness"] == 1.0  # 3 windows: too few to sharpen
                params["model"]["sharpness"] = 2.0
                r.hyperparameters = json.dumps(params)
    # a later ensemble forecast uses those weights and that sharpness (no equal-weights
    # fallback)
    _run(runner, "forecast", "--model", "ensemble", "--as-of", AS_OF, "--samples", "100",
         "--json")
    with session_scope(imported) as session:
        rows = session.scalars(
            select(ModelMetadata)
            .where(ModelMetadata.model_name == "ensemble")
            .order_by(ModelMetadata.id)
        ).all()
        used = [json.loads(r.hyperparameters or "{}")["model"] for r in rows]
        assert used[0]["weights"] == pytest.approx(used[-1]["weights"])
        assert used[-1]["sharpness"] == 2.0
        assert used[-1]["members"] == ",".join(sorted(used[0]["weights"]))


def test_backtests_as_of_one_moment_keep_their_own_fits(
    imported: Engine, runner: CliRunner
) -> None:
    """Two runs as of the same moment with other --train-days: the runs shared one folder,
    so the second overwrote the fits the first run's rows name (a forecast with the first
    run's training span then loaded the second run's model), and a model that could not be
    backtested in the second run left no trace but kept the first run's file."""
    train = ("train", "--model", "hour_of_day_mean,seasonal_naive_weekly", "--backtest-windows",
             "1", "--samples", "50", "--as-of", AS_OF, "--json")
    _run(runner, *train, "--train-days", "30")
    with session_scope(imported) as session:
        first = {r.model_name: r for r in session.scalars(select(ModelMetadata))}
    assert set(first) == {"hour_of_day_mean", "seasonal_naive_weekly"}
    files = {name: Path(r.artifact_path or "") for name, r in first.items()}
    content = {name: path.read_bytes() for name, path in files.items()}
    second = _run(runner, *train, "--train-days", "10")  # weekly needs 14 days: fails
    assert set(second["models"]) == {"hour_of_day_mean"}
    with session_scope(imported) as session:
        rows = session.scalars(
            select(ModelMetadata).where(ModelMetadata.id.not_in([r.id for r in first.values()]))
        ).all()
    (newer,) = rows
    assert newer.artifact_path is not None and Path(newer.artifact_path).is_file()
    assert Path(newer.artifact_path).parent != files["hour_of_day_mean"].parent
    assert {name: path.read_bytes() for name, path in files.items()} == content
    # the second run's folder holds only the fit a stored row names
    assert list(Path(newer.artifact_path).parent.iterdir()) == [Path(newer.artifact_path)]


def test_forecast_json_shape_storage_and_accuracy(imported: Engine, runner: CliRunner) -> None:
    out = _run(
        runner, "forecast", "--model", "hour_of_day_mean", "--as-of", AS_OF, "--samples",
        "300", "--json",
    )
    assert set(out) == {"account", "model", "as_of", "hours"}
    assert out["as_of"] == AS_OF and len(out["hours"]) == 24
    first = out["hours"][0]
    assert first["target_time"] == AS_OF
    assert list(first["quantiles"]) == [f"{q:g}" for q in QUANTILE_LEVELS]
    assert len(first["quantiles"]) == 23 and "0.025" in first["quantiles"]
    for hour in out["hours"]:
        q = list(hour["quantiles"].values())
        assert q == sorted(q)
        assert hour["lower_95"] == hour["quantiles"]["0.025"]
        assert hour["upper_95"] == hour["quantiles"]["0.975"]
    with session_scope(imported) as session:
        stored = session.scalars(select(Forecast).order_by(Forecast.target_time)).all()
        assert len(stored) == 24
        assert stored[0].predicted_count == pytest.approx(first["mean"])
        assert all(f.actual_count is None for f in stored)
    evaluation = _run(runner, "evaluate-forecasts", "--json")
    assert evaluation["filled"] == 24
    (model,) = evaluation["models"]
    assert model["model"] == "hour_of_day_mean" and model["forecasts"] == 24
    with session_scope(imported) as session:
        pairs = session.execute(
            select(Forecast.actual_count, TimeBucket.tweet_count).join(
                TimeBucket,
                (TimeBucket.bucket_start == Forecast.target_time)
                & (TimeBucket.granularity == "hourly"),
            )
        ).all()
        assert len(pairs) == 24 and all(a == b for a, b in pairs)


def test_window_mode_counts_observed_posts_and_brackets_sum_to_one(
    imported: Engine, runner: CliRunner, posts_sample: Path
) -> None:
    start = datetime(2023, 1, 27, 17, tzinfo=UTC)
    end = start + timedelta(days=7)
    as_of = datetime(2023, 1, 31, 9, 30, tzinfo=UTC)
    window = f"{start.isoformat()}/{end.isoformat()}"
    out = _run(
        runner, "forecast", "--model", "hour_of_day_mean", "--window", window, "--as-of",
        as_of.isoformat(), "--brackets", "0,150,200,250,300", "--samples", "400", "--json",
    )
    assert set(out) == {
        "account", "model", "as_of", "window", "observed", "mean", "quantiles", "brackets"
    }
    assert (out["account"], out["model"]) == ("elonmusk", "hour_of_day_mean")
    assert out["as_of"] == as_of.isoformat()  # posts before it are the observed ones
    observed = _posts_between(posts_sample, start, as_of)
    assert out["observed"] == observed > 0
    assert out["quantiles"]["0.05"] >= observed and out["mean"] > observed
    assert [(b["low"], b["high"]) for b in out["brackets"]] == [
        (0, 149), (150, 199), (200, 249), (250, 299), (300, None),
    ]
    # four decimals at most, adding up to exactly 1 as written
    assert sum(Decimal(repr(b["probability"])) for b in out["brackets"]) == 1
    assert all(round(b["probability"], 4) == b["probability"] for b in out["brackets"])
    # a window that is over: everything is observed, one bracket is certain
    past = _run(
        runner, "forecast", "--window", window, "--as-of", end.isoformat(), "--brackets", "20",
        "--json",
    )
    total = _posts_between(posts_sample, start, end)
    assert past["observed"] == total and past["mean"] == total
    assert past["model"] is None  # nothing was forecast, so no model answered
    # one bracket from 0 and the certain one, not every width-20 bracket up to the count
    assert [(b["low"], b["high"], b["probability"]) for b in past["brackets"]] == [
        (0, total // 20 * 20 - 1, 0.0), (total // 20 * 20, None, 1.0)
    ]


def test_as_of_replays_exactly_without_later_posts(imported: Engine, runner: CliRunner) -> None:
    args = ("forecast", "--model", "seasonal_naive_daily", "--as-of", AS_OF, "--samples",
            "300", "--seed", "5", "--json")
    with_future = _run(runner, *args)
    with session_scope(imported) as session:
        session.execute(delete(ModelMetadata))
        later = RawTweet.created_at >= datetime.fromisoformat(AS_OF)
        session.execute(delete(RawTweet).where(later))
        account_id = session.scalar(select(RawTweet.account_id).limit(1))
        assert account_id is not None
        rebuild_buckets(session, account_id)
    assert _run(runner, *args) == with_future


BAD_INPUT = [
    (["forecast", "--model", "nope"], "--model 'nope'"),
    (["forecast", "--as-of", "yesterday"], "--as-of 'yesterday'"),
    (["forecast", "--as-of", "2023-02-01T00:00"], "--as-of"),
    (["forecast", "--window", "2023-02-01T00:00Z/2023-01-01T00:00Z"], "--window"),
    (["forecast", "--window", "2023-02-01T00:00Z"], "--window"),
    (["forecast", "--brackets", "0,200,100"], "--brackets '0,200,100'"),
    (["forecast", "--brackets", "0,1_000"], "--brackets '0,1_000': '1_000' is not a whole"),
    (["forecast", "--window", "2023-02-01T12:00 ET/2023-02-08T12:00 ET"],
     "--window start '2023-02-01T12:00 ET' is not an ISO 8601 time; write it as"),
    # posts before the first one stored are unknown: not a certain count of what was stored
    (["forecast", "--window", "2022-10-25T00:00Z/2022-11-05T00:00Z"],
     "--window start 2022-10-25T00:00Z is before @elonmusk's data: its first hour with posts "
     "starts at 2022-11-01T13:00Z"),
    # found once the forecast is made (and its rows written): they are rolled back
    (["forecast", "--model", "hour_of_day_mean", "--as-of", AS_OF, "--window",
      f"{AS_OF}/2023-03-15T00:00Z", "--brackets", "1"], "--brackets 1: "),
    (["forecast", "--horizon", "soon"], "--horizon 'soon'"),
    (["forecast", "--horizon", "7d", "--window", "2023-02-01T00:00Z/2023-02-08T00:00Z"],
     "--horizon '7d' and --window: the window sets the hours; give one"),
    (["train", "--model", "hour_of_day_mean,bogus"], "bogus"),
    (["train", "--step", "0h"], "--step"),
    (["regimes", "--as-of", "2023-13-01T00:00Z"], "--as-of"),
    # refused before any work: no backtest, forecast or detection is stored
    (["regimes", "--plot", "regimes.txt"],
     "--plot 'regimes.txt': the picture is a PNG file (name it *.png)"),
    (["forecast", "--plot", "fan.jpg"], "--plot 'fan.jpg': the picture is a PNG file"),
    (["train", "--report", "report.pdf"], "--report 'report.pdf': the picture is a PNG file"),
]


def test_bad_input_names_the_option_and_changes_nothing(
    imported: Engine, runner: CliRunner
) -> None:
    before = _counts(imported)
    for args, message in BAD_INPUT:
        result = runner.invoke(app, args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output, (args, result.output)
        assert _counts(imported) == before, args


def test_regimes_alert_once_per_shift_and_store(imported: Engine, runner: CliRunner) -> None:
    out = _run(runner, "regimes", "--json")
    assert out["account"] == "elonmusk"
    cusum = out["rules"]["cusum"]
    # 3.5 months of late 2022: at least the well-known late-December drop, never an alert a day
    assert 1 <= len(cusum) <= 4
    assert all(s["direction"] in ("up", "down") for s in cusum)
    days = sorted(datetime.fromisoformat(s["change_at"]) for s in cusum)
    assert all((b - a).days >= 7 for a, b in itertools.pairwise(days))
    again = _run(runner, "regimes", "--json")
    assert again == out
    with session_scope(imported) as session:
        stored = session.scalar(select(func.count()).select_from(RegimeShift))
    assert stored == len(cusum) + len(out["rules"]["rolling_variance"])


def test_regimes_plot_draws_the_alerts_it_printed(
    imported: Engine, runner: CliRunner, tmp_path: Path
) -> None:
    chart = tmp_path / "charts" / "regimes.png"
    result = runner.invoke(app, ["regimes", "--plot", str(chart)])
    assert result.exit_code == 0, result.output
    assert "cusum:" in result.output and f"regime chart: {chart}" in " ".join(result.output.split())
    assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and chart.stat().st_size > 20_000


def test_migration_runs_up_down_up(db_url: str) -> None:
    migrate.upgrade(db_url)
    engine = get_engine(db_url)
    assert {"backtest_results", "regime_shifts"} <= set(inspect(engine).get_table_names())
    migrate.downgrade(db_url, "0001")
    inspector = inspect(engine)
    assert "backtest_results" not in inspector.get_table_names()
    assert "crps" not in {c["name"] for c in inspector.get_columns("model_metadata")}
    migrate.upgrade(db_url)
    assert "crps" in {c["name"] for c in inspect(engine).get_columns("model_metadata")}


def test_new_posts_fill_actual_counts_of_stored_forecasts(
    imported: Engine, runner: CliRunner, posts_sample: Path
) -> None:
    as_of = datetime.fromisoformat(AS_OF)
    with session_scope(imported) as session:
        later = session.scalars(select(RawTweet).where(RawTweet.created_at >= as_of)).all()
        records = [PostRecord(p.tweet_id, p.created_at) for p in later]
        account_id = later[0].account_id
        session.execute(delete(RawTweet).where(RawTweet.created_at >= as_of))
        rebuild_buckets(session, account_id)
    _run(runner, "forecast", "--model", "hour_of_day_mean", "--samples", "200", "--json")
    with session_scope(imported) as session:
        stored = session.scalars(select(Forecast)).all()
        assert len(stored) == 24 and stored[0].forecast_time == as_of
        assert all(f.actual_count is None for f in stored)
        # the posts of the forecast day arrive, as ingestion would store them
        result = store_posts(session, account_id, records, source="test")
        span = (records[0].created_at, records[-1].created_at)
        refresh_after_posts(session, account_id, result.span or span)
    expected = Counter(
        r.created_at.replace(minute=0, second=0, microsecond=0) for r in records
    )
    with session_scope(imported) as session:
        filled = session.scalars(select(Forecast).order_by(Forecast.target_time)).all()
        assert [f.actual_count for f in filled] == [expected.get(f.target_time, 0) for f in filled]
        assert sum(f.actual_count or 0 for f in filled) > 0
