"""The on-disk form of a trained model: a directory holding the model files and
`musktracker_model.json` (kind, labels, preprocessing, training reference for drift).

The same directory is logged to MLflow as the run's `model` artifact and is what a
registered version points at, so any version can be loaded back with `load_model`.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from musktracker.sentiment.data import LABELS, SentimentDataError, first_line
from musktracker.sentiment.preprocess import PreprocessConfig

META_FILE = "musktracker_model.json"
ModelKind = Literal["transformer", "classic"]
# How a transformer is served (SENTIMENT_RUNTIME); benchmarks/sentiment.py measures each.
Runtime = Literal["torch", "torch-int8", "onnx", "onnx-int8"]


@dataclass(frozen=True)
class DriftReference:
    """What the model saw at training time, to compare recent traffic against.

    `label_shares`: share of each predicted label on the dev set; `length_edges` and
    `length_shares`: histogram of input lengths in words over the training texts.
    """

    label_shares: list[float]
    length_edges: list[float]
    length_shares: list[float]


@dataclass(frozen=True)
class ModelMeta:
    """Everything needed to rebuild and describe a saved model."""

    kind: ModelKind
    base_model: str
    preprocess: dict[str, Any]
    max_length: int = 64
    labels: list[str] = field(default_factory=lambda: list(LABELS))
    reference: DriftReference | None = None

    def preprocess_config(self) -> PreprocessConfig:
        return PreprocessConfig.from_dict(self.preprocess)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / META_FILE).write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> ModelMeta:
        path = directory / META_FILE
        if not path.is_file():
            raise SentimentDataError(f"model directory {directory} has no {META_FILE}")
        data = json.loads(path.read_text(encoding="utf-8"))
        reference = data.pop("reference", None)
        return cls(**data, reference=DriftReference(**reference) if reference else None)


class SentimentModel(Protocol):
    """A trained classifier: raw texts in, class probabilities (LABELS order) out."""

    meta: ModelMeta

    def predict_proba(self, texts: list[str], batch_size: int = 64) -> np.ndarray: ...

    def save(self, directory: Path) -> None: ...


def with_reference(meta: ModelMeta, reference: DriftReference) -> ModelMeta:
    """A copy of `meta` carrying the drift reference."""
    return ModelMeta(**{**asdict(meta), "reference": reference})


def load_model(directory: Path, threads: int = 1, runtime: Runtime = "torch") -> SentimentModel:
    """Load a saved model of either kind. The transformer needs torch and is served by
    `runtime`: torch fp32, torch int8 dynamic quantization, or ONNX Runtime fp32 or int8
    (exported on load, a few seconds, into a temporary directory that is removed once the
    session holds the graph; the stored artifact is untouched)."""
    meta = ModelMeta.load(directory)
    if meta.kind == "classic":
        from musktracker.sentiment.classic import ClassicModel

        return ClassicModel.load(directory)
    from musktracker.sentiment.transformer import TransformerModel

    model = TransformerModel.load(directory, threads=threads)
    if runtime == "torch-int8":
        return model.quantized()
    if runtime in ("onnx", "onnx-int8"):
        from musktracker.sentiment.onnx_runtime import OnnxModel, export_onnx

        with tempfile.TemporaryDirectory(prefix="musktracker-onnx-") as folder:
            int8 = runtime == "onnx-int8"
            graph = export_onnx(model, Path(folder) / "model.onnx", int8=int8)
            # int8 activations are quantized per run: one text per run keeps each text's
            # answer independent of its batch companions (OnnxModel).
            return OnnxModel(graph, model, threads, per_text=int8)
    return model


def load_version(
    directory: Path, version: str, threads: int = 1, runtime: Runtime = "torch"
) -> SentimentModel:
    """`load_model` for a registered version: damaged files (each library fails its own
    way: JSON, joblib, transformers, ONNX) are a SentimentDataError naming the version, so
    a command prints one line and the API answers 503. ImportError (no torch) passes."""
    try:
        return load_model(directory, threads, runtime)
    except (SentimentDataError, ImportError):
        raise
    except Exception as exc:
        raise SentimentDataError(
            f"version {version} cannot be loaded from {directory} ({type(exc).__name__}: "
            f"{first_line(exc)})"
        ) from None


def labels_of(probabilities: np.ndarray) -> list[str]:
    """The most probable label of each row."""
    return [LABELS[i] for i in probabilities.argmax(axis=1)]
