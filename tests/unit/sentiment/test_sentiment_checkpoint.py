"""A fine-tuning run stopped part way resumes from its checkpoint and ends with exactly the
weights of a run that was never stopped (dropout masks included)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from musktracker.sentiment.checkpoint import Checkpointer, fingerprint
from musktracker.sentiment.data import LabelledTexts, read_labelled
from musktracker.sentiment.transformer import TrainConfig, fine_tune


class Killed(Exception):
    """Stands for the process dying after a step."""


def _data(semeval_train: Path) -> LabelledTexts:
    return read_labelled(semeval_train).head(80)


def _config(tiny_base_model: Path) -> TrainConfig:
    # Two epochs of 5 steps, dropout on: a resume must restore torch's random state too.
    return TrainConfig(
        base_model=str(tiny_base_model), batch_size=16, epochs=2, learning_rate=1e-3, dropout=0.3
    )


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("stop_after", [3, 5, 7])  # in epoch 1, at its end, in epoch 2
def test_a_stopped_run_resumes_to_the_same_weights(
    tiny_base_model: Path, semeval_train: Path, tmp_path: Path, stop_after: int
) -> None:
    data, config = _data(semeval_train), _config(tiny_base_model)
    losses: list[float] = []
    epochs: list[tuple[int, float]] = []
    whole = fine_tune(
        data,
        config,
        on_step=lambda s, total, loss: losses.append(loss),
        on_epoch=lambda e, loss, _: epochs.append((e, loss)),
    )
    expected = _weights(whole.model)

    checkpoint = Checkpointer(tmp_path, fingerprint(data, config), every_seconds=0.0)

    def die(step: int, total: int, loss: float) -> None:
        if step == stop_after:
            raise Killed

    with pytest.raises(Killed):
        fine_tune(data, config, on_step=die, checkpoint=checkpoint)
    # The kill came after the step's callback and before its save: the last save is one
    # step earlier, so the resumed run repeats that step.
    assert checkpoint.load() is not None
    resumed_steps: list[int] = []
    resumed_epochs: list[tuple[int, float]] = []
    resumed = fine_tune(
        data,
        config,
        on_step=lambda s, total, loss: resumed_steps.append(s),
        on_epoch=lambda e, loss, _: resumed_epochs.append((e, loss)),
        checkpoint=Checkpointer(tmp_path, fingerprint(data, config), every_seconds=3600.0),
    )
    assert resumed_steps == list(range(stop_after, 11))
    got = _weights(resumed.model)
    assert got.keys() == expected.keys()
    assert all(torch.equal(got[k], expected[k]) for k in expected)
    # The epoch means count the steps before the stop too.
    assert resumed_epochs == [e for e in epochs if e[0] > (stop_after - 1) // 5]


def test_a_checkpoint_of_another_training_is_not_resumed(
    tiny_base_model: Path, semeval_train: Path
) -> None:
    data, config = _data(semeval_train), _config(tiny_base_model)
    key = fingerprint(data, config)
    assert fingerprint(data, replace(config, threads=2)) == key  # speed only
    assert fingerprint(data, replace(config, seed=14)) != key
    assert fingerprint(data.head(79), config) != key
    relabelled = LabelledTexts(data.texts, ["neutral"] * len(data), data.years)
    assert fingerprint(relabelled, config) != key


def test_no_checkpoint_is_left_after_a_finished_run(
    tiny_base_model: Path, semeval_train: Path, tmp_path: Path
) -> None:
    """fine_tune saves only before the last step; the caller clears the file on success."""
    data, config = _data(semeval_train), _config(tiny_base_model)
    checkpoint = Checkpointer(tmp_path, fingerprint(data, config), every_seconds=0.0)
    fine_tune(data, config, checkpoint=checkpoint)
    saved = checkpoint.load()
    assert saved is not None and saved["step"] == 9  # never the final state
    assert not list(tmp_path.glob("*.partial"))
    checkpoint.clear()
    assert checkpoint.load() is None
    assert np.isfinite(saved["epoch_losses"]).all()
