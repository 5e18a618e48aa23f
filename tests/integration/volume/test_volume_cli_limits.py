"""Limits and edge cases of the volume commands (train, forecast, regimes,
evaluate-forecasts): which backtest run ranks the models, as-of and horizon bounds, output
paths checked first, failures reported, replays that store nothing, concurrent forecasts.
Real posts, real SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from musktracker.cli.main import app
from musktracker.db.models import Forecast, ModelMetadata, RawTweet, RegimeShift, TimeBucket
from musktracker.db.session import session_scope

from .test_volume_cli import AS_OF, CHEAP, _counts, _run

TRAIN = ("train", "--train-days", "14", "--samples", "100", "--as-of", AS_OF, "--json",
         "--backtest-windows")


def _model_of(out: Any) -> str:
    return str(out["model"])


def test_best_model_comes_from_one_backtest_run(imported: Engine, runner: CliRunner) -> None:
    _run(runner, *TRAIN, "3", "--model", "hour_of_day_mean,seasonal_naive_daily")
    # a second run at the same as-of, of other models on other windows
    second = _run(runner, *TRAIN, "1", "--model", "seasonal_naive_daily,seasonal_naive_weekly")
    with session_scope(imported) as session:
        # the first run's hour_of_day_mean looks unbeatable: if rows of both runs were
        # compared, it would be "best"
        session.execute(
            update(ModelMetadata)
            .where(ModelMetadata.model_name == "hour_of_day_mean")
            .values(crps=1e-6)
        )
    out = _run(runner, "forecast", "--model", "best", "--as-of", AS_OF, "--samples", "50",
               "--json")
    assert _model_of(out) == next(iter(second["models"]))  # the newer run's best
    # a one-model run ranks nothing and does not replace the ranking
    _run(runner, *TRAIN, "1", "--model", "hour_of_day_mean")
    out = _run(runner, "forecast", "--model", "best", "--as-of", AS_OF, "--samples", "50",
               "--json")
    assert _model_of(out) == next(iter(second["models"]))


def test_ensemble_weights_come_from_one_run(imported: Engine, runner: CliRunner) -> None:
    _run(runner, *TRAIN, "3", "--model", "hour_of_day_mean,seasonal_naive_daily,ensemble")
    # a newer run without the ensemble must not hide the run that has its weights
    _run(runner, *TRAIN, "1", "--model", "seasonal_naive_daily,seasonal_naive_weekly")
    result = runner.invoke(app, ["forecast", "--model", "ensemble", "--as-of", AS_OF,
                                 "--samples", "50"])
    assert result.exit_code == 0, result.output
    assert "equally" not in result.output
    with session_scope(imported) as session:
        rows = session.scalars(
            select(ModelMetadata).where(ModelMetadata.model_name == "ensemble")
            .order_by(ModelMetadata.id)
        ).all()
        trained, used = (json.loads(r.hyperparameters or "{}")["model"] for r in rows)
    assert used["weights"] == trained["weights"]
    assert _counts(imported)[0] == 6  # 3 + 2 backtest rows, one forecast fit


def _error(runner: CliRunner, *args: str) -> str:
    """Run a command that must fail with one `error:` line; returns that line."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == 1, (args, result.output)
    assert "Traceback" not in result.output, result.output
    # (train's progress bar may come first)
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and result.output.rstrip().endswith(lines[0]), result.output
    return lines[0]


def _data_end(engine: Engine) -> datetime:
    with session_scope(engine) as session:
        last: datetime | None = session.scalar(select(func.max(TimeBucket.bucket_start)))
    assert last is not None
    return last + timedelta(hours=1)


def _stamp(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M}Z"


def test_as_of_after_the_data_is_refused(
    imported: Engine, runner: CliRunner, tmp_path: Path
) -> None:
    end = _data_end(imported)
    before = _counts(imported)
    later = _stamp(end + timedelta(days=9))
    expected = f"--as-of {later} is after the end of @elonmusk's data ({_stamp(end)})"
    assert expected in _error(runner, "forecast", "--model", "hour_of_day_mean", "--as-of",
                              later)
    assert expected in _error(runner, "train", "--model", CHEAP, "--backtest-windows", "2",
                              "--as-of", later)
    # one hour past the end is already unknown; the end itself is fine
    assert "after the end" in _error(runner, "forecast", "--as-of",
                                     _stamp(end + timedelta(hours=1)))
    assert "after the end" in _error(
        runner, "forecast", "--window", f"{_stamp(end)}/{_stamp(end + timedelta(days=7))}",
        "--as-of", _stamp(end + timedelta(days=3)),
    )
    assert _counts(imported) == before
    assert not (tmp_path / "artifacts").exists()
    out = _run(runner, "forecast", "--model", "hour_of_day_mean", "--as-of", _stamp(end),
               "--samples", "50", "--json")
    assert out["as_of"] == end.isoformat()
    # a window whose as-of is inside the data may extend beyond it
    window = f"{_stamp(end - timedelta(days=2))}/{_stamp(end + timedelta(days=5))}"
    out = _run(runner, "forecast", "--model", "hour_of_day_mean", "--window", window,
               "--as-of", _stamp(end - timedelta(days=1)), "--samples", "50", "--json")
    assert out["observed"] > 0 and out["mean"] > out["observed"]


def test_as_of_before_the_data_and_train_days_errors_name_the_option(
    imported: Engine, runner: CliRunner
) -> None:
    before = _counts(imported)
    line = _error(runner, "forecast", "--as-of", "2020-01-01T00:00Z")
    assert "--as-of 2020-01-01T00:00Z is before @elonmusk's data" in line
    assert "earliest as-of time is 2022-11-" in line
    line = _error(runner, "train", "--as-of", "2020-01-01T00:00Z", "--backtest-windows", "2")
    assert "--as-of 2020-01-01T00:00Z is before @elonmusk's data" in line
    line = _error(runner, "forecast", "--model", "negative_binomial", "--train-days", "3",
                  "--as-of", AS_OF)
    assert "--train-days 3" in line and "negative_binomial" in line
    line = _error(runner, "train", "--model", "negative_binomial", "--train-days", "3",
                  "--backtest-windows", "2", "--as-of", AS_OF)
    assert "--train-days 3" in line and "negative_binomial" in line
    assert _counts(imported) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["forecast", "--horizon", "inf"], "--horizon 'inf'"),
        (["forecast", "--horizon", "nan"], "--horizon 'nan'"),
        (["forecast", "--horizon", "1e400"], "--horizon '1e400'"),
        (["forecast", "--horizon", "-infh"], "--horizon '-infh'"),
        (["train", "--step", "inf", "--backtest-windows", "2"], "--step 'inf'"),
        (["train", "--step", "1e400d"], "--step '1e400d'"),
        (["forecast", "--horizon", "10000w"], "--horizon '10000w': at most 2160 hours"),
        (["forecast", "--horizon", "2161"], "at most 2160 hours (90 days)"),
        (["train", "--horizon", "91d"], "--horizon '91d': at most 2160 hours"),
        (["forecast", "--model", "hour_of_day_mean", "--as-of", AS_OF, "--window",
          "2023-01-01T00:00Z/2100-01-01T00:00Z"], "--window ending 2100-01-01T00:00Z: at most"),
    ],
)
def test_horizons_must_be_finite_and_at_most_90_days(
    imported: Engine, runner: CliRunner, tmp_path: Path, args: list[str], message: str
) -> None:
    before = _counts(imported)
    assert message in _error(runner, *args)
    assert _counts(imported) == before
    assert not (tmp_path / "artifacts").exists()
    # 90 days exactly is allowed
    _run(runner, "forecast", "--model", "hour_of_day_mean", "--as-of", AS_OF, "--horizon",
         "90d", "--samples", "20", "--json")


def test_unwritable_plot_or_report_fails_before_any_work(
    imported: Engine, runner: CliRunner, tmp_path: Path
) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("not a directory")
    before = _counts(imported)
    cases = [
        ("--report", ["train", "--model", CHEAP, "--backtest-windows", "1", "--as-of", AS_OF]),
        ("--plot", ["forecast", "--model", "hour_of_day_mean", "--as-of", AS_OF]),
        ("--plot", ["forecast", "--model", "hour_of_day_mean", "--as-of", AS_OF,
                    "--window", "2023-01-30T00:00Z/2023-02-02T00:00Z"]),
    ]
    for option, args in cases:
        for target in (a_file / "x.png", a_file / "deeper" / "x.png", tmp_path):
            path = target if target.suffix else target / "dir.png"
            if target == tmp_path:
                path.mkdir()
            line = _error(runner, *args, option, str(path))
            assert line.startswith(f"error: {option} '{path}'"), line
            if target == tmp_path:
                path.rmdir()
    assert _counts(imported) == before
    assert not (tmp_path / "artifacts").exists()
    # missing parent directories are created, as for every file MuskTracker writes
    nested = tmp_path / "new" / "dir" / "fan.png"
    _run(runner, "forecast", "--model", "hour_of_day_mean", "--as-of", AS_OF, "--samples",
         "50", "--json", "--plot", str(nested))
    assert nested.stat().st_size > 1000


def test_train_json_reports_failures_and_the_final_fit(
    imported: Engine, runner: CliRunner
) -> None:
    args = ("train", "--model", "negative_binomial,hour_of_day_mean", "--train-days", "3",
            "--backtest-windows", "2", "--samples", "50", "--as-of", AS_OF)
    out = _run(runner, *args, "--json")
    assert set(out) == {"account", "as_of", "windows", "models", "failures"}
    assert set(out["models"]) == {"hour_of_day_mean"}
    failed = [(f["model"], f["window_start"]) for f in out["failures"]]
    starts = [w["start"] for w in out["windows"]]
    assert failed == [*(("negative_binomial", s) for s in starts), ("negative_binomial", None)]
    assert all("192 hours" in f["message"] for f in out["failures"])
    text = runner.invoke(app, list(args))
    assert text.exit_code == 0, text.output
    assert "negative_binomial failed on the final fit" in text.output
    assert f"window at {AS_OF[:10]}" not in text.output
    assert "--train-days 3" in text.output


def _stored_shifts(engine: Engine) -> list[tuple[int, str, datetime]]:
    with session_scope(engine) as session:
        rows = session.scalars(select(RegimeShift).order_by(RegimeShift.id)).all()
        return [(r.id, r.rule, r.change_at) for r in rows]


def test_regimes_replay_keeps_the_stored_alerts(imported: Engine, runner: CliRunner) -> None:
    now = _run(runner, "regimes", "--json")
    stored = _stored_shifts(imported)
    assert len(stored) == sum(len(v) for v in now["rules"].values()) > 0
    past = _run(runner, "regimes", "--as-of", "2023-01-05T00:00Z", "--json")
    assert past["data_end"] == "2023-01-05T00:00:00+00:00"
    assert sum(len(v) for v in past["rules"].values()) < len(stored)
    assert _stored_shifts(imported) == stored  # a replay stores and deletes nothing
    # a rerun finds the same alerts and keeps their rows (and ids, which signals refer to)
    assert _run(runner, "regimes", "--json") == now
    assert _stored_shifts(imported) == stored


def test_regimes_bad_or_empty_counting_rule_is_one_error_line(
    imported: Engine, runner: CliRunner
) -> None:
    line = _error(runner, "regimes", "--kinds", "bogus")
    assert "--kinds: 'bogus' is not a post kind" in line
    with session_scope(imported) as session:
        kinds = set(session.scalars(select(RawTweet.kind).distinct()))
    unused = next(k for k in ("original", "reply", "quote", "repost") if k not in kinds)
    line = _error(runner, "regimes", "--kinds", unused)
    assert f"--kinds '{unused}': no posts of @elonmusk match" in line
    assert _counts(imported)[3] == 0


def test_evaluate_forecasts_table_keeps_model_names_whole(
    imported: Engine, runner: CliRunner
) -> None:
    for model in ("seasonal_naive_daily", "seasonal_naive_weekly"):
        _run(runner, "forecast", "--model", model, "--as-of", AS_OF, "--samples", "50",
             "--json")
    result = runner.invoke(app, ["evaluate-forecasts"])  # piped: 80 columns
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "seasonal_naive" in line]
    assert len(rows) == 2
    assert "seasonal_naive_daily" in rows[0] + rows[1]
    assert "seasonal_naive_weekly" in rows[0] + rows[1]
    assert all("h to " in row for row in rows)  # the targets stay on the model's line


def test_concurrent_forecasts_share_one_model_row_and_one_set_of_forecasts(
    imported: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests for the same uncached forecast (two API workers, say) both find no
    fitted model; each used to insert its own model_metadata row and 24 forecasts rows."""
    import musktracker.forecasting.generate as generate
    from musktracker.forecasting.service import ForecastOptions, hourly_forecast
    from musktracker.models.registry import create_model as real_create

    both_looked = threading.Barrier(2, timeout=20)

    def create_model(name: str, **params: Any) -> Any:
        model = real_create(name, **params)
        fit = model.fit

        def fit_after_both_looked(history: Any) -> Any:
            both_looked.wait()  # both requests have checked for a stored fit by now
            return fit(history)

        model.fit = fit_after_both_looked  # type: ignore[method-assign]
        return model

    monkeypatch.setattr(generate, "create_model", create_model)
    with session_scope(imported) as session:
        account_id = session.scalar(select(RawTweet.account_id).limit(1))
    assert account_id is not None
    options = ForecastOptions(model="hour_of_day_mean", as_of=datetime.fromisoformat(AS_OF),
                              samples=50)
    errors: list[BaseException] = []

    def request() -> None:
        try:
            with session_scope(imported) as session:
                hourly_forecast(session, account_id, 24, options, tmp_path / "artifacts")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=request) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    with session_scope(imported) as session:
        rows = session.scalars(select(ModelMetadata)).all()
        assert len(rows) == 1 and rows[0].artifact_path
        assert Path(rows[0].artifact_path).is_file()
        assert session.scalar(select(func.count()).select_from(Forecast)) == 24
    # the loser's artifact was removed: one file per stored fit
    assert len(list((tmp_path / "artifacts").rglob("*.pkl"))) == 1
