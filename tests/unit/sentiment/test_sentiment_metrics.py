from pathlib import Path

import pytest

from musktracker.sentiment.metrics import evaluate_labels, plot_confusion


def test_macro_recall_averages_per_class_recall():
    gold = ["negative", "negative", "neutral", "positive", "positive", "positive", "positive"]
    pred = ["negative", "neutral", "neutral", "positive", "positive", "neutral", "negative"]
    ev = evaluate_labels(gold, pred)
    # recalls: negative 1/2, neutral 1/1, positive 2/4
    assert ev.macro_recall == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    assert ev.accuracy == pytest.approx(4 / 7)
    assert ev.confusion == [[1, 1, 0], [0, 1, 0], [1, 1, 2]]
    assert ev.n == 7


def test_confusion_plot_is_written(tmp_path: Path):
    ev = evaluate_labels(["negative", "positive"], ["negative", "neutral"])
    path = plot_confusion(ev, tmp_path / "cm.png", "test")
    assert path.read_bytes()[:4] == b"\x89PNG"
