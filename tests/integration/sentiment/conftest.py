"""Sentiment integration fixtures: small real data files, a fresh MLflow store per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from musktracker.db.models import RetrainDecision
from musktracker.db.session import session_scope
from musktracker.logging import configure_logging
from musktracker.sentiment.data import LabelledTexts, read_labelled
from musktracker.sentiment.tracking import Tracker
from tests.unit.sentiment.conftest import SENTIMENT_DATA
from tests.unit.sentiment.conftest import tiny_base_model as tiny_base_model  # shared fixture


def _write(path: Path, data: LabelledTexts) -> Path:
    lines = ["label\ttext"] + [f"{y}\t{x}" for x, y in zip(data.texts, data.labels, strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def small_train(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every 40th row of the real training file (about 1,200 tweets, all years)."""
    full = read_labelled(SENTIMENT_DATA / "semeval_train.tsv")
    picked = LabelledTexts(full.texts[::40], full.labels[::40])
    return _write(tmp_path_factory.mktemp("data") / "train_small.tsv", picked)


@pytest.fixture(scope="session")
def small_dev(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every 5th row of the real dev file (400 tweets)."""
    full = read_labelled(SENTIMENT_DATA / "semeval_dev.tsv")
    picked = LabelledTexts(full.texts[::5], full.labels[::5])
    return _write(tmp_path_factory.mktemp("data") / "dev_small.tsv", picked)


def assert_forced_decision_stored(
    engine: Engine, decision_id: int, challenger_version: int, promoted: bool
) -> None:
    """A forced retrain's decision row holds what the route or task answered."""
    with session_scope(engine) as session:
        stored = session.get(RetrainDecision, decision_id)
        assert stored is not None
        assert stored.challenger_version == challenger_version
        assert "forced" in (stored.fired or "")
        assert stored.promoted == promoted


@pytest.fixture(autouse=True)
def fresh_logging() -> None:
    """Bind logging to this test's stderr (a CLI test leaves it on CliRunner's closed one)."""
    configure_logging("INFO", "console")


@pytest.fixture
def tracker(tmp_path: Path) -> Tracker:
    return Tracker(str(tmp_path / "mlruns"), "test-sentiment")
