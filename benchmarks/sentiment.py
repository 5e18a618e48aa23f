"""Sentiment benchmark on semeval_dev.tsv: accuracy of the transformer against the classic
baseline trained in the same run, and CPU inference speed of every speed-up variant.

Prints the training run (texts, epochs, wall time), then three tables: dev scores of every
variant with the classic model trained in the same run (macro recall is the official
TweetEval metric), speed per variant and thread count (p50/p95 single-text latency including
preprocessing and tokenisation; throughput in batches of 64), and the targets with the
choice (fastest variant within 0.5 points of macro recall of fp32). Variants: fp32, torch
int8 dynamic quantization, ONNX Runtime fp32 and int8, torch.compile. The load average is
printed with every measurement: the machine is shared.

Run: .venv/bin/python -m benchmarks.sentiment [--version N] [--threads 1 2]
(MLFLOW_TRACKING_URI names the store; --threads 1 --variants fp32 onnx-int8 --latency-texts 30
for a quicker check: the classic model is always trained, about 2 minutes.)
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as a file: see common.py

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from transformers import PreTrainedModel

from benchmarks.common import (
    at_least,
    data_file,
    data_line,
    existing_tracker,
    machine,
    make_parser,
    positive_int,
)
from musktracker.config import get_settings
from musktracker.sentiment.artifact import labels_of
from musktracker.sentiment.classic import train_classic
from musktracker.sentiment.data import LabelledTexts, SentimentDataError, read_labelled
from musktracker.sentiment.metrics import Evaluation, evaluate_labels
from musktracker.sentiment.onnx_runtime import OnnxModel, export_onnx
from musktracker.sentiment.transformer import TransformerModel, set_threads

console = Console()
Scorer = Callable[[list[str]], np.ndarray]
BATCH = 64  # texts per call, as the throughput target is stated
VARIANTS = ("fp32", "int8", "onnx", "onnx-int8", "compile")
# texts per forward pass inside a call (sorted by length first), as served
CHUNK = get_settings().sentiment_batch_size


@dataclass
class Speed:
    p50_ms: float
    p95_ms: float
    texts_per_second: float


def measure_speed(
    score: Scorer, texts: list[str], latency_texts: list[str]
) -> tuple[Speed, np.ndarray]:
    """Single-text latencies over `latency_texts`; batched throughput over `texts`."""
    score(latency_texts[:5])  # warm up
    latencies = []
    for text in latency_texts:
        started = time.perf_counter()
        score([text])
        latencies.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    probabilities = np.vstack([score(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)])
    seconds = time.perf_counter() - started
    q = statistics.quantiles(latencies, n=20)
    return Speed(statistics.median(latencies), q[18], len(texts) / seconds), probabilities


def onnx_scorer(model: TransformerModel, threads: int, folder: Path, int8: bool) -> Scorer:
    """Export once (fp32, and int8 by ONNX Runtime's dynamic quantization) and score with
    ONNX Runtime at `threads` intra-op threads."""
    path = folder / ("model.int8.onnx" if int8 else "model.onnx")
    if not path.exists():
        path = export_onnx(model, folder / "model.onnx", int8=int8)
    scorer = OnnxModel(path, model, threads, per_text=int8)  # as served (load_model)
    return lambda texts: scorer.predict_proba(texts, CHUNK)


def compiled_scorer(model: TransformerModel) -> Scorer:
    # torch.compile wraps the module in a callable with the same behaviour (typed loosely).
    wrapped = cast(PreTrainedModel, torch.compile(model.model, dynamic=True))
    compiled = TransformerModel(wrapped, model.tokenizer, model.meta)
    return lambda texts: compiled.predict_proba(texts, CHUNK)


def model_scorer(model: TransformerModel) -> Scorer:
    return lambda texts: model.predict_proba(texts, CHUNK)


def measure_variants(
    base: TransformerModel, variants: list[str], thread_counts: list[int], dev: LabelledTexts,
    latency_texts: list[str], scores: dict[str, Evaluation],
) -> dict[tuple[str, int], Speed | str]:
    """Speed of every variant at every thread count (a variant that cannot run here is
    reported, not fatal); each variant's dev scores are added to `scores`. The ONNX exports
    (about 100 MB) go to a temporary folder removed afterwards: every run used to leave one
    in /tmp."""
    speed: dict[tuple[str, int], Speed | str] = {}
    int8 = base.quantized() if "int8" in variants else base  # quantize only when asked
    with tempfile.TemporaryDirectory(prefix="sentiment-bench-") as folder:
        for threads in thread_counts:
            set_threads(threads)
            for variant in variants:
                try:
                    if variant in ("onnx", "onnx-int8"):
                        scorer = onnx_scorer(
                            base, threads, Path(folder), int8=variant == "onnx-int8"
                        )
                    elif variant == "compile":
                        scorer = compiled_scorer(base)
                    else:
                        scorer = model_scorer(int8 if variant == "int8" else base)
                    result, probabilities = measure_speed(scorer, dev.texts, latency_texts)
                except Exception as exc:  # a variant that cannot run here is reported
                    speed[(variant, threads)] = f"failed: {type(exc).__name__}: {str(exc)[:80]}"
                    continue
                speed[(variant, threads)] = result
                name = f"transformer {variant}"
                if name not in scores:
                    scores[name] = evaluate_labels(dev.labels, labels_of(probabilities))
                console.print(
                    f"measured {variant} with {threads} thread(s): p50 {result.p50_ms:.1f} ms, "
                    f"p95 {result.p95_ms:.1f} ms, {result.texts_per_second:.0f} texts/s, "
                    f"macro recall {scores[name].macro_recall:.4f}; load average {load()}"
                )
    return speed


def load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    parser = make_parser(__doc__)
    parser.add_argument(
        "--version", type=positive_int, help="registered version (default: the champion)"
    )
    parser.add_argument(
        "--threads", type=positive_int, nargs="+", default=[1, 2], help="torch/ONNX threads"
    )
    parser.add_argument(
        "--latency-texts", type=at_least(2), default=200,
        help="dev texts scored one at a time for p50/p95",
    )
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument(
        "--dev", type=data_file, default=settings.sentiment_dev_file,
        help="labelled dev TSV (SENTIMENT_DEV_FILE)",
    )
    parser.add_argument(
        "--train", type=data_file, default=settings.sentiment_train_file,
        help="labelled TSV the classic baseline trains on (SENTIMENT_TRAIN_FILE)",
    )
    args = parser.parse_args(argv)
    store = settings.mlflow_tracking_uri
    tracker = existing_tracker(store, settings.sentiment_model_name)
    if tracker is None:
        parser.error(f"MLFLOW_TRACKING_URI: no MLflow store at {store} (train a model first)")
    try:
        chosen = (
            tracker.version(args.version, "--version")
            if args.version is not None
            else tracker.champion()
        )
    except SentimentDataError as exc:
        parser.error(str(exc))
    if chosen is None:
        parser.error(f"no champion in {store}: train one or pass --version")
    dev = read_labelled(args.dev)
    train = read_labelled(args.train)
    latency_texts = dev.texts[: args.latency_texts]
    print(machine())
    print(data_line(args.dev, len(dev), "dev texts"))
    print(data_line(args.train, len(train), "training texts"))
    console.print(
        f"torch {torch.__version__}; model v{chosen.version} "
        f"({chosen.tags.get('base_model', '?')}) from {store}"
    )
    params = tracker.run_params(chosen.run_id or "")
    metrics = tracker.run_metrics(chosen.run_id or "")
    if "train_seconds" in metrics:
        console.print(
            f"training: {int(params.get('n_train', 0)):,} texts, {params.get('epochs', '?')} "
            f"epoch(s), {params.get('threads', '?')} thread(s), "
            f"{metrics['train_seconds'] / 60:.1f} min wall"
        )

    scores: dict[str, Evaluation] = {}
    started = time.perf_counter()
    classic = train_classic(train)
    classic_seconds = time.perf_counter() - started
    scores["classic (TF-IDF + LR)"] = evaluate_labels(
        dev.labels, labels_of(classic.predict_proba(dev.texts))
    )

    base = TransformerModel.load(tracker.local_dir(chosen), threads=1)
    speed = measure_variants(base, args.variants, args.threads, dev, latency_texts, scores)

    table = Table("model", "macro recall", "accuracy", "macro F1", title="semeval_dev.tsv")
    for name, ev in scores.items():
        table.add_row(name, f"{ev.macro_recall:.4f}", f"{ev.accuracy:.4f}", f"{ev.macro_f1:.4f}")
    console.print(table)
    console.print(
        f"classic model trained on {len(train):,} texts in {classic_seconds:.0f} s "
        f"(load average {load()})"
    )

    table = Table("variant", "threads", "p50 ms", "p95 ms", "texts/s (batch 64)", title="speed")
    for (variant, threads), value in speed.items():
        if isinstance(value, str):
            table.add_row(variant, str(threads), value, "", "")
        else:
            table.add_row(
                variant,
                str(threads),
                f"{value.p50_ms:.1f}",
                f"{value.p95_ms:.1f}",
                f"{value.texts_per_second:.0f}",
            )
    console.print(table)

    reference = scores.get("transformer fp32")
    classic_recall = scores["classic (TF-IDF + LR)"].macro_recall
    if reference is not None:
        eligible = [
            (value.texts_per_second, variant, threads)
            for (variant, threads), value in speed.items()
            if isinstance(value, Speed)
            and reference.macro_recall - scores[f"transformer {variant}"].macro_recall <= 0.005
        ]
        best = max(eligible)
        best_speed = speed[(best[1], best[2])]
        assert isinstance(best_speed, Speed)
        table = Table("target", "measured", "met", title="targets")
        rows = [
            ("macro recall >= 0.65", reference.macro_recall, reference.macro_recall >= 0.65),
            (
                ">= 5 points above classic",
                (reference.macro_recall - classic_recall) * 100,
                reference.macro_recall - classic_recall >= 0.05,
            ),
            (f"p95 < 30 ms ({best[1]}, {best[2]} thr)", best_speed.p95_ms, best_speed.p95_ms < 30),
            (
                f">= 300 texts/s ({best[1]}, {best[2]} thr)",
                best_speed.texts_per_second,
                best_speed.texts_per_second >= 300,
            ),
        ]
        for name, measured, met in rows:
            table.add_row(name, f"{measured:.3f}", "yes" if met else "NO")
        console.print(table)
        console.print(f"fastest within 0.5 points of fp32: {best[1]} with {best[2]} thread(s)")


if __name__ == "__main__":
    main()
