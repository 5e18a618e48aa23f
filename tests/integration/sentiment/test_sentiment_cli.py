"""`musktracker sentiment` end to end through the CLI, on a real database and MLflow store."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from musktracker.cli.main import app
from musktracker.config import get_settings
from musktracker.db.models import LabelledSample, SentimentModelVersion
from musktracker.db.session import session_scope
from musktracker.sentiment.tracking import Tracker


@pytest.fixture
def sentiment_env(
    cli_env: str,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    small_train: Path,
    small_dev: Path,
) -> Engine:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", str(tmp_path / "mlruns"))
    monkeypatch.setenv("SENTIMENT_TRAIN_FILE", str(small_train))
    monkeypatch.setenv("SENTIMENT_DEV_FILE", str(small_dev))
    monkeypatch.delenv("REDIS_URL", raising=False)
    return engine


def _json_lines(output: str) -> list[dict[str, Any]]:
    """JSON rows of --json output (log lines on stderr are mixed in by CliRunner)."""
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def _count(engine: Engine, model: type) -> int:
    with session_scope(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_train_predict_models_promote_evaluate(
    sentiment_env: Engine, runner: CliRunner, tmp_path: Path, small_dev: Path
):
    trained = runner.invoke(app, ["sentiment", "train", "--classic"])
    assert trained.exit_code == 0, trained.output
    assert "registered version 1" in trained.output
    assert _count(sentiment_env, SentimentModelVersion) == 1

    predicted = runner.invoke(app, ["sentiment", "predict", "I love this so much", "--json"])
    assert predicted.exit_code == 0, predicted.output
    (row,) = _json_lines(predicted.output)
    assert row["label"] in {"negative", "neutral", "positive"}
    assert row["model_version"] == "1"
    assert sum(row["probabilities"].values()) == pytest.approx(1.0)

    texts = tmp_path / "texts.txt"
    texts.write_text("first text\nsecond text\n")
    from_file = runner.invoke(app, ["sentiment", "predict", "--file", str(texts), "--json"])
    assert from_file.exit_code == 0
    assert [r["text"] for r in _json_lines(from_file.output)] == ["first text", "second text"]
    table = runner.invoke(app, ["sentiment", "predict", "[b]rave [x] launch"])
    assert table.exit_code == 0 and "[b]rave [x] launch" in table.output  # not Rich markup

    runner.invoke(app, ["sentiment", "train", "--classic"])
    listed = runner.invoke(app, ["sentiment", "models"])
    assert listed.exit_code == 0 and "champion" in listed.output and "available" in listed.output
    assert runner.invoke(app, ["sentiment", "promote", "2"]).exit_code == 0
    with session_scope(sentiment_env) as session:
        champion = session.scalar(
            select(SentimentModelVersion.version).where(SentimentModelVersion.status == "champion")
        )
    assert champion == 2

    missing = runner.invoke(app, ["sentiment", "promote", "9"])
    assert missing.exit_code == 1 and "VERSION: 9" in missing.output

    plot = tmp_path / "cm.png"
    evaluated = runner.invoke(
        app, ["sentiment", "evaluate", "--data", str(small_dev), "--plot", str(plot)]
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert "macro recall" in evaluated.output and plot.is_file()


def test_samples_and_retrain_check(sentiment_env: Engine, runner: CliRunner, tmp_path: Path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("label\ttext\npositive\tgood\nhappy\tnope\n")
    refused = runner.invoke(app, ["sentiment", "add-samples", str(bad)])
    assert refused.exit_code == 1 and "'happy'" in refused.output
    assert _count(sentiment_env, LabelledSample) == 0  # nothing written

    good = tmp_path / "good.tsv"
    good.write_text("label\ttext\npositive\tgood\nnegative\tbad\n")
    added = runner.invoke(app, ["sentiment", "add-samples", str(good)])
    assert added.exit_code == 0 and "2 new" in added.output

    checked = runner.invoke(app, ["sentiment", "check-retrain", "--dry-run"])
    assert checked.exit_code == 0, checked.output
    assert "stale" in checked.output  # no model yet


def test_predict_without_a_model_is_a_clear_error(sentiment_env: Engine, runner: CliRunner):
    result = runner.invoke(app, ["sentiment", "predict", "hello"])
    assert result.exit_code == 1
    assert "champion" in result.output


def test_transformer_options_reach_the_logged_run(
    sentiment_env: Engine, runner: CliRunner, tmp_path: Path, tiny_base_model: Path
):
    trained = runner.invoke(
        app,
        [
            "sentiment", "train", "--base-model", str(tiny_base_model), "--max-train", "64",
            "--batch-size", "16", "--lr", "0.0005", "--order", "random", "--seed", "7",
            "--layers", "1", "--layer-decay", "0.5", "--dropout", "0.2",
        ],
    )
    assert trained.exit_code == 0, trained.output
    run_id = re.search(r"\(run (\w+)\)", trained.output)
    assert run_id is not None, trained.output
    tracker = Tracker(str(tmp_path / "mlruns"), get_settings().sentiment_model_name)
    params = tracker.run_params(run_id.group(1))
    assert params["seed"] == "7" and params["order"] == "random"
    assert params["learning_rate"] == "0.0005" and params["n_train"] == "64"
    assert params["layers"] == "1" and params["layer_decay"] == "0.5"
    assert params["dropout"] == "0.2"
    saved = json.loads((tracker.local_dir(tracker.versions()[0]) / "config.json").read_text())
    assert saved["num_hidden_layers"] == 1  # the base has 2: the registered model is cut


def test_more_layers_than_the_base_has_names_the_option(
    sentiment_env: Engine, runner: CliRunner, tiny_base_model: Path
):
    result = runner.invoke(
        app, ["sentiment", "train", "--base-model", str(tiny_base_model), "--layers", "3"]
    )
    assert result.exit_code == 1
    assert "--layers" in result.output and "1..2" in result.output, result.output
    assert _count(sentiment_env, SentimentModelVersion) == 0


@pytest.mark.parametrize(("option", "value"), [("--layer-decay", "1.5"), ("--dropout", "1.0")])
def test_a_rate_outside_its_range_names_the_option(
    sentiment_env: Engine, runner: CliRunner, option: str, value: str
):
    result = runner.invoke(app, ["sentiment", "train", option, value])
    assert result.exit_code == 1
    assert option in result.output and value in result.output, result.output
    assert _count(sentiment_env, SentimentModelVersion) == 0


def test_unknown_training_order_names_the_option(sentiment_env: Engine, runner: CliRunner):
    result = runner.invoke(app, ["sentiment", "train", "--order", "sideways"])
    assert result.exit_code == 1
    assert "--order" in result.output and "'sideways'" in result.output
    assert _count(sentiment_env, SentimentModelVersion) == 0
