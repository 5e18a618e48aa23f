"""Drift between training-time traffic and recent traffic, by the Population Stability Index.

PSI = sum over bins of (actual - expected) * ln(actual / expected), with shares floored at
a small epsilon. Common reading: < 0.1 stable, 0.1-0.2 moderate shift, > 0.2 significant
shift (the default retraining threshold). Two distributions are watched: the predicted
label shares, and the input length in words (kept per prediction, so no text is needed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from musktracker.sentiment.artifact import DriftReference
from musktracker.sentiment.data import LABELS

LENGTH_EDGES: tuple[float, ...] = (0, 6, 10, 14, 18, 22, 26, 30, math.inf)
EPSILON = 1e-4


def word_count(text: str) -> int:
    return len(text.split())


def length_shares(lengths: Sequence[int], edges: Sequence[float] = LENGTH_EDGES) -> list[float]:
    """Share of lengths in each [edge_i, edge_i+1) bin."""
    counts, _ = np.histogram(np.asarray(lengths, dtype=float), bins=np.asarray(edges))
    total = max(int(counts.sum()), 1)
    return [float(c) / total for c in counts]


def label_shares(labels: Sequence[str]) -> list[float]:
    """Share of each label, in LABELS order."""
    total = max(len(labels), 1)
    return [sum(1 for x in labels if x == label) / total for label in LABELS]


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population Stability Index of `actual` against `expected` (same bins)."""
    if len(expected) != len(actual):
        raise ValueError(f"PSI needs equal bins; got {len(expected)} and {len(actual)}")
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, EPSILON), max(a, EPSILON)
        total += (a - e) * math.log(a / e)
    return total


def reference_of(train_lengths: Sequence[int], dev_predicted: Sequence[str]) -> DriftReference:
    """The drift reference stored with a model."""
    return DriftReference(
        label_shares=label_shares(dev_predicted),
        length_edges=[e if math.isfinite(e) else 1e9 for e in LENGTH_EDGES],
        length_shares=length_shares(train_lengths),
    )
