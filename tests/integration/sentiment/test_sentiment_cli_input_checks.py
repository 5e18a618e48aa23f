"""The sentiment commands' input checks on a real database and MLflow store: bad input gives one
`error:` line and leaves no MLflow run, labels never conflict silently, the mirror drops
versions MLflow no longer has."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from musktracker.cli.main import app
from musktracker.db.models import LabelledSample, SentimentModelVersion
from musktracker.db.session import session_scope
from musktracker.sentiment.tracking import Tracker
from tests.integration.sentiment.test_sentiment_cli import sentiment_env as sentiment_env


def _runs(tmp_path: Path) -> int:
    tracker = Tracker(str(tmp_path / "mlruns"), "musktracker-sentiment")
    return len(tracker.client.search_runs([tracker.experiment_id]))


def _error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error:"), output
    assert "Traceback" not in output
    return " ".join(lines)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_bad_training_options_start_no_run(
    sentiment_env: Engine, runner: CliRunner, tmp_path: Path, tiny_base_model: Path
):
    one_class = _write(tmp_path / "pos_only.tsv", "label\ttext\npositive\tgreat\npositive\tok\n")
    config_only = tmp_path / "cfgonly"
    config_only.mkdir()
    (config_only / "config.json").write_text((tiny_base_model / "config.json").read_text())
    tiny = ["--base-model", str(tiny_base_model), "--max-train", "50"]
    cases = {
        "--layers: 3 is outside 1..2": ["--layers", "3", *tiny],
        "is a file": ["--base-model", str(tiny_base_model / "config.json")],
        "no weights": ["--base-model", str(config_only)],
        "no config.json": ["--base-model", str(tmp_path)],
        "one label only (positive": ["--data", str(one_class), *tiny],
        "--lr: 0.0 must be > 0": ["--lr", "0", *tiny],
        "--base-model: '' is empty": ["--base-model", "", "--max-train", "50"],
        "--classic: --pooling, --dropout apply to the transformer only": [
            "--classic", "--dropout", "0.5", "--pooling", "zzz",
        ],
        "--dev: file not found": ["--classic", "--dev", str(tmp_path / "nope.tsv")],
    }
    for expected, options in cases.items():
        result = runner.invoke(app, ["sentiment", "train", *options])
        assert result.exit_code == 1, (options, result.output)
        assert expected in _error_line(result.output), (options, result.output)
    classic_one_class = runner.invoke(app, ["sentiment", "train", "--classic", "--data",
                                            str(one_class)])
    assert "one label only" in _error_line(classic_one_class.output)
    assert _runs(tmp_path) == 0  # not one FAILED run left behind


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_bad_base_model_names_where_it_came_from(
    sentiment_env: Engine, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The same bad value is blamed on the setting when it came from there, and on the
    option when the user typed it: the user looks where the message points."""
    missing = str(tmp_path / "no-such-model")
    monkeypatch.setenv("SENTIMENT_BASE_MODEL", missing)
    from_setting = runner.invoke(app, ["sentiment", "train", "--max-train", "50"])
    assert from_setting.exit_code == 1
    assert f"SENTIMENT_BASE_MODEL: directory not found: {missing!r}" in _error_line(
        from_setting.output
    )
    from_option = runner.invoke(app, ["sentiment", "train", "--base-model", missing,
                                      "--max-train", "50"])
    assert f"--base-model: directory not found: {missing!r}" in _error_line(from_option.output)
    assert _runs(tmp_path) == 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_default_draw_matches_seed_13_and_output_is_formatted(
    sentiment_env: Engine, runner: CliRunner, tmp_path: Path, small_dev: Path
):
    for extra in ([], ["--seed", "13"], ["--seed", "0"]):
        result = runner.invoke(app, ["sentiment", "train", "--classic", "--max-train", "300",
                                     *extra])
        assert result.exit_code == 0, result.output
        assert " s\n" in result.output or " min\n" in result.output
    with session_scope(sentiment_env) as session:
        recalls = session.scalars(
            select(SentimentModelVersion.dev_macro_recall).order_by(SentimentModelVersion.version)
        ).all()
    assert recalls[0] == recalls[1] != recalls[2]  # no --seed draws like --seed 13

    again = runner.invoke(app, ["sentiment", "promote", "1"])
    assert "version 1 is already the champion" in again.output
    missing = runner.invoke(app, ["sentiment", "evaluate", "--version", "99"])
    assert "--version: 99 is not a registered version" in _error_line(missing.output)
    bad_plot = runner.invoke(app, ["sentiment", "evaluate", "--plot", str(tmp_path / "cm.txt")])
    assert "--plot:" in _error_line(bad_plot.output) and "macro recall" not in bad_plot.output
    blocker = _write(tmp_path / "a_file", "x")
    unwritable = runner.invoke(app, ["sentiment", "evaluate", "--plot", str(blocker / "cm.png")])
    assert "--plot: cannot write" in _error_line(unwritable.output)
    two_classes = _write(tmp_path / "two.tsv", "label\ttext\npositive\tI love it\n"
                         "negative\tI hate it\n")
    evaluated = runner.invoke(app, ["sentiment", "evaluate", "--data", str(two_classes)])
    assert evaluated.exit_code == 0, evaluated.output
    assert "no gold 'neutral' rows: macro recall and macro F1 are averaged over 2 classes" in (
        " ".join(evaluated.output.split())
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_predict_refuses_blank_texts_and_unreadable_files(
    sentiment_env: Engine, runner: CliRunner, tmp_path: Path
):
    assert runner.invoke(app, ["sentiment", "train", "--classic", "--max-train", "300"]
                         ).exit_code == 0
    for texts, expected in (
        (["fine", "   "], "TEXT 2: empty or only whitespace"),
        ([""], "TEXT 1: empty"),
        (["fine", "--column", "text"], "--column 'text' picks a column of --file FILE"),
    ):
        result = runner.invoke(app, ["sentiment", "predict", *texts])
        assert result.exit_code == 1 and expected in _error_line(result.output)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes(b"caf\xe9 is great\n")
    ragged = _write(tmp_path / "ragged.tsv", "id\ttext\n1\tgreat\n2\n")
    for path, expected in ((latin1, "latin1.txt:1: not UTF-8"), (ragged, "ragged.tsv:3:")):
        result = runner.invoke(app, ["sentiment", "predict", "--file", str(path)])
        assert result.exit_code == 1 and expected in _error_line(result.output)
    s_latin1 = tmp_path / "s_latin1.tsv"
    s_latin1.write_bytes(b"label\ttext\npositive\tcaf\xe9\n")
    for command in (["add-samples", str(s_latin1)], ["evaluate", "--data", str(s_latin1)]):
        result = runner.invoke(app, ["sentiment", *command])
        assert "s_latin1.tsv:2: not UTF-8" in _error_line(result.output), command
    nope = runner.invoke(app, ["sentiment", "add-samples", str(tmp_path / "nope.tsv")])
    assert "FILE: file not found" in _error_line(nope.output)


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
def test_add_samples_reports_label_conflicts(
    sentiment_env: Engine, runner: CliRunner, tmp_path: Path
):
    first = _write(tmp_path / "first.tsv", "label\ttext\npositive\tlove it\nneutral\tmeh\n"
                   "neutral\tmeh\n")
    added = runner.invoke(app, ["sentiment", "add-samples", str(first)])
    assert "read 3 samples: 2 new, 0 known, 1 repeated in the file" in added.output

    in_file = _write(tmp_path / "dup.tsv", "label\ttext\npositive\tdup one\nnegative\tdup one\n")
    refused = runner.invoke(app, ["sentiment", "add-samples", str(in_file)])
    assert "'dup one' is labelled positive and negative" in _error_line(refused.output)

    correction = _write(tmp_path / "fix.tsv", "label\ttext\nnegative\tlove it\n")
    refused = runner.invoke(app, ["sentiment", "add-samples", str(correction)])
    line = _error_line(refused.output)
    assert "'love it' is stored as positive, the input says negative" in line
    assert "--replace-labels" in line

    def stored() -> dict[str, tuple[str, bool]]:
        with session_scope(sentiment_env) as session:
            rows = session.execute(select(LabelledSample.text, LabelledSample.label,
                                          LabelledSample.used_in_training))
            return {r.text: (r.label, r.used_in_training) for r in rows}

    assert stored() == {"love it": ("positive", False), "meh": ("neutral", False)}
    replaced = runner.invoke(app, ["sentiment", "add-samples", str(correction),
                                   "--replace-labels"])
    assert replaced.exit_code == 0, replaced.output
    assert "0 new, 0 known, 1 relabelled" in replaced.output
    assert stored()["love it"] == ("negative", False)

    nul = _write(tmp_path / "nul.tsv", "label\ttext\npositive\tfine\nneutral\ta\x00b\n")
    refused = runner.invoke(app, ["sentiment", "add-samples", str(nul)])
    assert "sample 2 'a\\x00b': holds a NUL character" in _error_line(refused.output)
    assert "fine" not in stored()  # PostgreSQL too: refused, not a database error
    for source in ("", "x" * 257):  # neither replaced by the file name nor cut to fit
        refused = runner.invoke(app, ["sentiment", "add-samples", str(first), "--source", source])
        assert "must hold 1 to 256 characters" in _error_line(refused.output), source


@pytest.mark.parametrize("db_url", ["sqlite", "postgres"], indirect=True)
def test_models_drops_versions_deleted_from_mlflow(
    sentiment_env: Engine, runner: CliRunner, tmp_path: Path
):
    for _ in range(2):
        assert runner.invoke(app, ["sentiment", "train", "--classic", "--max-train", "300"]
                             ).exit_code == 0
    assert runner.invoke(app, ["sentiment", "promote", "2"]).exit_code == 0
    tracker = Tracker(str(tmp_path / "mlruns"), "musktracker-sentiment")
    tracker.client.delete_model_version("musktracker-sentiment", "2")  # the champion
    listed = runner.invoke(app, ["sentiment", "models"])
    assert listed.exit_code == 0, listed.output
    with session_scope(sentiment_env) as session:
        rows = session.execute(select(SentimentModelVersion.version, SentimentModelVersion.status))
        assert [tuple(r) for r in rows] == [(1, "available")]
    tracker.client.delete_model_version("musktracker-sentiment", "1")
    assert "no versions yet" in runner.invoke(app, ["sentiment", "models"]).output


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_check_retrain_dry_run_reads_no_data_and_shows_thresholds(
    sentiment_env: Engine, runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("SENTIMENT_TRAIN_FILE", str(tmp_path / "not-there.tsv"))
    checked = runner.invoke(app, ["sentiment", "check-retrain", "--dry-run"])
    assert checked.exit_code == 0, checked.output
    assert "fires when" in checked.output and ">= 1,000" in checked.output
    # Each row is the trigger `fired:` names, with what was measured in words.
    flat = " ".join(checked.output.split())
    assert "stale │ nothing registered yet │ >= 24 h │ yes" in flat
    assert "new_samples │ 0 labelled samples the champion has" in flat
    assert "fired: stale" in flat
    trained = runner.invoke(app, ["sentiment", "check-retrain", "--classic"])
    assert "SENTIMENT_TRAIN_FILE: file not found" in _error_line(trained.output)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_check_retrain_prints_both_recalls_rounded(
    sentiment_env: Engine, runner: CliRunner
):
    assert runner.invoke(app, ["sentiment", "train", "--classic", "--max-train", "300"]
                         ).exit_code == 0
    checked = runner.invoke(app, ["sentiment", "check-retrain", "--force", "--classic",
                                  "--max-train", "200"])
    assert checked.exit_code == 0, checked.output
    line = next(x for x in checked.output.splitlines() if x.startswith("challenger v2"))
    recalls = [w for w in line.replace(":", " ").split() if w.startswith("0.")]
    assert len(recalls) == 2 and all(len(r) == 6 for r in recalls), line
