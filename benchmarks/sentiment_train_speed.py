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

import os
import random
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as a file: see common.py

import torch
from rich.console import Console
from rich.table import Table
from transformers import PreTrainedModel

from benchmarks.common import data_file, data_line, machine, make_parser, positive_int
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


def main(argv: list[str] | None = None) -> None:
    parser = make_parser(__doc__)
    parser.add_argument(
        "--steps", type=positive_int, default=15, help="timed steps per variant per round"
    )
    parser.add_argument("--rounds", type=positive_int, default=3, help="rounds of every variant")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads")
    parser.add_argument(
        "--data", type=data_file, default=get_settings().sentiment_train_file,
        help="labelled training TSV (SENTIMENT_TRAIN_FILE)",
    )
    args = parser.parse_args(argv)

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
    if wanted > len(epoch):  # the stride would be 0: every step the same first batch
        parser.error(
            f"--steps {args.steps} x --rounds {args.rounds} + 1 warm-up needs {wanted} batches; "
            f"{args.data} has {len(epoch)} of {default.batch_size}"
        )
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
    print(machine())
    print(data_line(args.data, len(data), "texts"))
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
