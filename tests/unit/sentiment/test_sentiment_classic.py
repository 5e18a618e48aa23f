from pathlib import Path

import numpy as np

from musktracker.sentiment.artifact import labels_of, load_model
from musktracker.sentiment.classic import train_classic
from musktracker.sentiment.data import read_labelled
from musktracker.sentiment.metrics import evaluate_labels


def test_classic_model_learns_real_tweets_and_round_trips(
    semeval_train: Path, semeval_dev: Path, tmp_path: Path
):
    train = read_labelled(semeval_train).head(3000)
    dev = read_labelled(semeval_dev).head(500)
    model = train_classic(train)
    probabilities = model.predict_proba(dev.texts)
    scores = evaluate_labels(dev.labels, labels_of(probabilities))
    assert scores.macro_recall > 0.40  # chance is 0.33
    model.save(tmp_path / "classic")
    again = load_model(tmp_path / "classic")
    assert again.meta.kind == "classic"
    assert np.allclose(again.predict_proba(dev.texts[:20]), probabilities[:20])
