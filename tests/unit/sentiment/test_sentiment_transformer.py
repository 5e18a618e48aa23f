import random
from pathlib import Path

import numpy as np
import pytest

from musktracker.sentiment.artifact import load_model
from musktracker.sentiment.data import LabelledTexts, SentimentDataError, read_labelled
from musktracker.sentiment.transformer import (
    TrainConfig,
    class_weights,
    fine_tune,
    length_grouped_batches,
)


def test_length_grouped_batches_cover_every_index_once():
    lengths = [random.Random(1).randint(1, 60) for _ in range(1000)]
    batches = list(length_grouped_batches(lengths, 32, random.Random(2), pool=5))
    flat = sorted(i for batch in batches for i in batch)
    assert flat == list(range(1000))
    assert all(len(b) <= 32 for b in batches)
    # grouping keeps lengths inside a batch close together
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    assert spread < 15


def test_class_weights_favour_rare_classes():
    weights = class_weights([0] + [1] * 5 + [2] * 4).tolist()
    assert weights[0] > weights[2] > weights[1]
    assert np.mean(weights) == pytest.approx(1.0)


def test_fine_tune_a_few_steps_then_save_and_reload(
    tiny_base_model: Path, semeval_train: Path, tmp_path: Path
):
    data = read_labelled(semeval_train).head(64)
    config = TrainConfig(base_model=str(tiny_base_model), batch_size=16, learning_rate=1e-3)
    steps: list[int] = []
    epochs: list[tuple[int, float, np.ndarray]] = []
    model = fine_tune(
        data,
        config,
        dev=data.head(10),
        on_step=lambda s, total, loss: steps.append(s),
        on_epoch=lambda e, loss, probs: epochs.append((e, loss, probs)),
    )
    assert steps == [1, 2, 3, 4]
    assert epochs[0][0] == 1 and epochs[0][2].shape == (10, 3)
    texts = ["I love it", "@user this is awful http", "ok"]
    probabilities = model.predict_proba(texts, batch_size=2)
    assert probabilities.shape == (3, 3)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    model.save(tmp_path / "model")
    again = load_model(tmp_path / "model")
    assert again.meta.kind == "transformer"
    assert np.allclose(again.predict_proba(texts), probabilities, atol=1e-5)


def test_predictions_do_not_depend_on_batch_order(tiny_base_model: Path):
    from musktracker.sentiment.transformer import load_base

    model = load_base(str(tiny_base_model), 64)
    texts = ["short", "a somewhat longer text about rockets and cars", "mid length text"]
    together = model.predict_proba(texts, batch_size=3)
    alone = np.vstack([model.predict_proba([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-5)


def test_unknown_base_model_is_a_clear_error(tmp_path: Path):
    config = TrainConfig(base_model=str(tmp_path / "nothing-here"))
    with pytest.raises(SentimentDataError, match="--base-model"):
        fine_tune(LabelledTexts(["a"], ["neutral"]), config)
