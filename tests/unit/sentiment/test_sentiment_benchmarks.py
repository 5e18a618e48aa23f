"""The sentiment benchmarks refuse what they cannot measure in one line naming the option,
before any model is trained or timed, and leave no MLflow store behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import sentiment, sentiment_train_speed
from musktracker.config import get_settings
from tests.conftest import SHARED_DATA


def refused(main_argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line of `benchmarks.sentiment` run with `main_argv` (exit code 2)."""
    with pytest.raises(SystemExit) as stop:
        sentiment.main(main_argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--variants", "fp32", "bogus"], "argument --variants: invalid choice: 'bogus'"),
        (["--version", "0"], "argument --version: must be >= 1, got 0"),
        (["--threads", "1", "0"], "argument --threads: must be >= 1, got 0"),
        (["--latency-texts", "1"], "argument --latency-texts: must be >= 2, got 1"),
    ],
)
def test_bad_options_are_refused_in_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert message in refused(argv, capsys)


def test_a_missing_store_is_named_and_not_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "mlruns"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", str(store))
    get_settings.cache_clear()
    try:
        line = refused([], capsys)
    finally:
        get_settings.cache_clear()
    assert f"MLFLOW_TRACKING_URI: no MLflow store at {store}" in line
    assert not store.exists()


def test_an_unregistered_version_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mlruns").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", str(tmp_path / "mlruns"))
    get_settings.cache_clear()
    try:
        line = refused(["--version", "99"], capsys)
    finally:
        get_settings.cache_clear()
    assert "--version: 99 is not a registered version" in line


def test_train_speed_refuses_more_steps_than_the_file_has(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """100 texts make 4 batches of 32: 3 steps x 2 rounds + 1 warm-up used to time the first
    batch 7 times over (stride 0) without a word."""
    lines = (SHARED_DATA / "sentiment" / "semeval_train.tsv").read_text().splitlines()
    small = tmp_path / "small.tsv"
    small.write_text("\n".join(lines[:101]) + "\n")
    with pytest.raises(SystemExit) as stop:
        sentiment_train_speed.main(["--data", str(small), "--steps", "3", "--rounds", "2"])
    assert stop.value.code == 2
    assert "needs 7 batches" in capsys.readouterr().err
