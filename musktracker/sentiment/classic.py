"""The classic model: TF-IDF over word and character n-grams + logistic regression.

Trains in about a minute on the full SemEval file, is the baseline in every report and
serves when torch is not installed.
"""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from musktracker.sentiment.artifact import ModelMeta
from musktracker.sentiment.data import LABELS, LabelledTexts, SentimentDataError
from musktracker.sentiment.preprocess import CLASSIC_PREPROCESS, PreprocessConfig, preprocess_all

PIPELINE_FILE = "classic.joblib"
CLASSIC_NAME = "tfidf-word-char+logreg"


class ClassicModel:
    """A fitted scikit-learn pipeline and the preprocessing it was trained with."""

    def __init__(self, pipeline: Pipeline, meta: ModelMeta) -> None:
        self.pipeline = pipeline
        self.meta = meta

    def predict_proba(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Probabilities per text (scikit-learn is fast enough to score all at once)."""
        clean = preprocess_all(texts, self.meta.preprocess_config())
        probabilities: np.ndarray = self.pipeline.predict_proba(clean)
        return probabilities

    def save(self, directory: Path) -> None:
        self.meta.save(directory)
        joblib.dump(self.pipeline, directory / PIPELINE_FILE)

    @classmethod
    def load(cls, directory: Path) -> ClassicModel:
        # The pipeline is a pickle: load only model directories this program wrote.
        return cls(joblib.load(directory / PIPELINE_FILE), ModelMeta.load(directory))


def train_classic(
    train: LabelledTexts,
    config: PreprocessConfig = CLASSIC_PREPROCESS,
    c: float = 2.0,
) -> ClassicModel:
    """Fit TF-IDF (word 1-2 grams, char 2-5 grams) + balanced logistic regression."""
    features = FeatureUnion(
        [
            ("word", TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)),
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(2, 5), min_df=3, sublinear_tf=True
                ),
            ),
        ]
    )
    classifier = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
    pipeline = Pipeline([("features", features), ("classifier", classifier)])
    try:
        pipeline.fit(preprocess_all(train.texts, config), train.labels)
    except ValueError as exc:  # e.g. "After pruning, no terms remain" on a handful of rows
        raise SentimentDataError(
            f"the classic model cannot learn from these {len(train)} rows: {exc}"
        ) from None
    if list(pipeline.classes_) != list(LABELS):
        raise SentimentDataError(
            f"training data must hold all of {LABELS}; got {list(pipeline.classes_)}"
        )
    meta = ModelMeta(kind="classic", base_model=CLASSIC_NAME, preprocess=config.to_dict())
    return ClassicModel(pipeline, meta)
