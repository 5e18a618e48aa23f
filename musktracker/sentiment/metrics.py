"""Evaluation: macro-averaged recall (the official TweetEval sentiment metric), accuracy,
macro F1 and the confusion matrix, plus a plot of the matrix."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score

from musktracker.sentiment.data import LABELS, SentimentDataError


@dataclass(frozen=True)
class Evaluation:
    """Scores of one model on one labelled set. Rows of `confusion` are gold labels."""

    macro_recall: float
    accuracy: float
    macro_f1: float
    confusion: list[list[int]]
    n: int
    absent: tuple[str, ...] = ()
    """Classes with no gold row: left out of the macro averages (a class that cannot be
    recalled is not a recall of 0)."""

    def as_metrics(self, prefix: str = "") -> dict[str, float]:
        """Flat numbers for MLflow and the database."""
        return {
            f"{prefix}macro_recall": self.macro_recall,
            f"{prefix}accuracy": self.accuracy,
            f"{prefix}macro_f1": self.macro_f1,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.as_metrics(),
            "confusion": self.confusion,
            "n": self.n,
            "absent_classes": list(self.absent),
        }


def evaluate_labels(gold: list[str], predicted: list[str]) -> Evaluation:
    """Score predicted labels against gold labels. Macro recall and F1 average over the
    classes present in `gold` (all three on any real dev set); the confusion matrix always
    has the three."""
    present = set(gold)
    labels = [label for label in LABELS if label in present] or list(LABELS)
    return Evaluation(
        macro_recall=float(
            recall_score(gold, predicted, labels=labels, average="macro", zero_division=0)
        ),
        accuracy=float(accuracy_score(gold, predicted)),
        macro_f1=float(f1_score(gold, predicted, labels=labels, average="macro", zero_division=0)),
        confusion=confusion_matrix(gold, predicted, labels=list(LABELS)).tolist(),
        n=len(gold),
        absent=tuple(label for label in LABELS if label not in present) if gold else (),
    )


PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def check_plot_path(path: Path, what: str = "--plot") -> None:
    """Refuse, before any scoring, a plot path matplotlib cannot write."""
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise SentimentDataError(
            f"{what}: {path}: use a {', '.join(PLOT_SUFFIXES)} file name"
        )
    if path.is_dir():
        raise SentimentDataError(f"{what}: {path} is a directory")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise SentimentDataError(f"{what}: cannot write {path} ({folder} is not writable)")
    if path.exists() and not os.access(path, os.W_OK):
        raise SentimentDataError(f"{what}: cannot write {path} (the file is read-only)")


def plot_confusion(evaluation: Evaluation, path: Path, title: str) -> Path:
    """Save the confusion matrix as a PNG (Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.array(evaluation.confusion)
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(LABELS)), LABELS)
    ax.set_yticks(range(len(LABELS)), LABELS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(f"{title}\nmacro recall {evaluation.macro_recall:.3f}")
    for (row, col), value in np.ndenumerate(matrix):
        colour = "white" if value > matrix.max() / 2 else "black"
        ax.text(col, row, str(value), ha="center", va="center", color=colour)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
