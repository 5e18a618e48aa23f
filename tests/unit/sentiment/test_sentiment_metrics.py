from pathlib import Path

import pytest

from musktracker.sentiment.data import SentimentDataError
from musktracker.sentiment.metrics import check_plot_path, evaluate_labels, plot_confusion


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


def test_a_class_absent_from_the_gold_labels_is_left_out_of_the_macro_averages():
    ev = evaluate_labels(["negative", "positive", "positive"], ["negative", "positive", "positive"])
    assert ev.macro_recall == pytest.approx(1.0) and ev.macro_f1 == pytest.approx(1.0)
    assert ev.absent == ("neutral",)
    assert ev.confusion == [[1, 0, 0], [0, 0, 0], [0, 0, 2]]  # still the three classes
    assert evaluate_labels(["neutral"], ["positive"]).absent == ("negative", "positive")


def test_plot_paths_are_checked_before_scoring(tmp_path: Path):
    check_plot_path(tmp_path / "new" / "cm.svg")  # a folder to create is fine
    with pytest.raises(SentimentDataError, match=r"--plot: .*cm.txt: use a .png, .svg, .pdf"):
        check_plot_path(tmp_path / "cm.txt")
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    with pytest.raises(SentimentDataError, match=r"--plot: cannot write .*not writable"):
        check_plot_path(a_file / "cm.png")
    with pytest.raises(SentimentDataError, match=r"--plot: .* is a directory"):
        check_plot_path(_dir_png(tmp_path))


def _dir_png(tmp_path: Path) -> Path:
    folder = tmp_path / "folder.png"
    folder.mkdir()
    return folder
