"""Seconds per fine-tuning step of the sentiment recipe and of the variants that change its
cost, on the same real batches, so training-time choices rest on a measurement.

Every variant gets a fresh copy of the default base model set up by the product's own
`training_setup` and steps with `training_step` (forward, backward, clipping, AdamW) on the
same batches of the shared training file: batches drawn in the recipe's order (oldest first,
length-grouped, seed 13) and spread evenly over the epoch, so their lengths are typical. The
variants take turns, round by round, so a change in machine load hits all of them alike. The
table gives the median seconds per step, the ratio to the default and the projected minutes
for one epoch of the full file; the load average is printed because the machine is shared.

Run: .venv/bin/python -m benchmarks.sentiment_train_speed [--steps 15] [--rounds 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table
from transformers import PreTrainedModel

from musktracker.config import get_settings
from musktracker.sentiment.data import read_labelled
from musktracker.sentiment.preprocess import preprocess_all
from musktracker.sentiment.transformer import (
    TrainConfig,
    class_weights,
    load_base,
    set_threads,
    training_batches,
    training_setup,
    training_step,
)

console = Console()


def variants(default: TrainConfig) -> dict[str, TrainConfig]:
    return {
        "default (the base's dropout 0.1, word embeddings frozen)": default,
        "dropout 0": replace(default, dropout=0.0),
        "word embeddings trained": replace(default, freeze_word_embeddings=False),
        "dropout 0, word embeddings trained": replace(
            default, dropout=0.0, freeze_word_embeddings=False
        ),
    }


def _positive(value: str) -> int:
    """An argparse type: an integer >= 1 (0 used to end in a traceback naming a setting)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {number}")
    return number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--steps", type=_positive, default=15, help="timed steps per variant per round"
    )
    parser.add_argument("--rounds", type=_positive, default=3)
    parser.add_argument("--threads", type=_positive, default=1, help="torch threads (>= 1)")
    parser.add_argument("--data", type=Path, default=Path(get_settings().sentiment_train_file))
    args = parser.parse_args()

    settings = get_settings()
    default = TrainConfig(base_model=settings.sentiment_base_model, threads=args.threads)
    set_threads(args.threads)
    data = read_labelled(args.data)
    base = load_base(default.base_model, default.max_length)
    clean = preprocess_all(data.texts, base.preprocess_config)
    label_ids = data.label_ids()
    epoch = list(
        training_batches(
            data.year_of_each(), [len(t) for t in clean], default.batch_size,
            random.Random(default.seed), default.order,
        )
    )
    wanted = args.steps * args.rounds + 1  # one untimed warm-up step per variant
    stride = len(epoch) // wanted
    batches = [epoch[i * stride] for i in range(wanted)]
    encoded = [
        (base.encode([clean[i] for i in batch]), torch.tensor([label_ids[i] for i in batch]))
        for batch in batches
    ]
    loss_fn = torch.nn.CrossEntropyLoss(weight=class_weights(label_ids))

    runs: dict[str, tuple[PreTrainedModel, torch.optim.AdamW, list[float]]] = {}
    for name, config in variants(default).items():
        torch.manual_seed(default.seed)
        model = load_base(config.base_model, config.max_length).model
        optimiser = training_setup(model, config)
        model.train()
        training_step(model, *encoded[0], loss_fn, optimiser)
        runs[name] = (model, optimiser, [])
    console.print(
        f"{len(data):,} training texts, {len(epoch):,} steps of {default.batch_size} per epoch; "
        f"timing {args.steps} steps x {args.rounds} rounds per variant, {args.threads} "
        f"thread(s); load average before {os.getloadavg()[0]:.2f}"
    )
    for round_ in range(args.rounds):
        chunk = encoded[1 + round_ * args.steps : 1 + (round_ + 1) * args.steps]
        for model, optimiser, seconds in runs.values():
            start = time.perf_counter()
            for inputs, targets in chunk:
                training_step(model, inputs, targets, loss_fn, optimiser)
            seconds.append((time.perf_counter() - start) / len(chunk))

    table = Table(
        title=f"Fine-tuning step time ({args.threads} thread(s), batch {default.batch_size})"
    )
    for column in ("variant", "s / step (median of rounds)", "vs default", "min / epoch"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    reference = statistics.median(next(iter(runs.values()))[2])
    for name, (_, _, seconds) in runs.items():
        per_step = statistics.median(seconds)
        table.add_row(
            name, f"{per_step:.3f}", f"{per_step / reference:.2f}x",
            f"{per_step * len(epoch) / 60:.1f}",
        )
    console.print(table)
    console.print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
