"""`musktracker status` shows every part: per account the last backtest, its best model and
the last stored forecast; then the sentiment champion, labelled samples, signals and the
alert outbox, so a stuck part shows without reading tables."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from musktracker.cli.main import app
from musktracker.db.session import get_engine, session_scope
from musktracker.signals.outbox import enqueue


def _ok(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (args, result.output)
    return result.output


def test_status_reports_backtests_forecasts_samples_and_the_outbox(
    cli_env: str,
    runner: CliRunner,
    posts_sample: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ARTIFACT_DIR", str(tmp_path / "artifacts"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", str(tmp_path / "mlruns"))
    _ok(runner, "migrate", "up")
    _ok(runner, "accounts", "add", "elonmusk")
    _ok(runner, "import", str(posts_sample), "-a", "elonmusk")
    before = json.loads(_ok(runner, "status", "--json"))
    assert before["accounts"][0]["activity"] == {
        "ranking": None, "last_forecast": None, "regime_shifts": None
    }
    assert "run `musktracker train`" in _ok(runner, "status")

    trained = json.loads(_ok(
        runner, "train", "--json", "--model", "hour_of_day_mean,seasonal_naive_daily",
        "--backtest-windows", "2", "--train-days", "7",
    ))
    best = min(trained["models"], key=lambda name: trained["models"][name]["crps"])
    _ok(runner, "forecast", "--model", best, "--horizon", "24h")
    samples = tmp_path / "samples.tsv"
    samples.write_text("label\ttext\npositive\tgreat launch\nnegative\tawful delay\n")
    _ok(runner, "sentiment", "add-samples", str(samples))
    with session_scope(get_engine(cli_env)) as session:
        enqueue(session, [("webhook", "e1", {"a": 1}), ("telegram", "e1", {"a": 1})])

    after = json.loads(_ok(runner, "status", "--json"))
    activity = after["accounts"][0]["activity"]
    assert activity["ranking"]["best_model"] == best
    assert activity["ranking"]["models"] == 2
    assert activity["ranking"]["best_crps"] == pytest.approx(
        trained["models"][best]["crps"]
    )
    assert activity["ranking"]["as_of"].replace("Z", "+00:00") == trained["as_of"].replace(
        "Z", "+00:00"
    )
    assert activity["last_forecast"] is not None
    shared = after["shared"]
    assert shared["sentiment_champion"] is None and shared["last_retrain"] is None
    assert (shared["labelled_samples"], shared["samples_not_trained_on"]) == (2, 2)
    assert shared["outbox"] == {"pending": 2, "sending": 0, "done": 0, "failed": 0, "dlq": 0}

    table = " ".join(_ok(runner, "status").split())
    assert f"best model (--model best) │ {best} (CRPS" in table
    assert "2 waiting, 0 being sent" in table
    assert "2 (2 not trained on yet)" in table
    assert "none (run `musktracker sentiment train`)" in table
