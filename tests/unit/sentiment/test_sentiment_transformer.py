import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification
from transformers.utils import logging as hf_logging

from musktracker.sentiment.artifact import load_model
from musktracker.sentiment.data import LabelledTexts, SentimentDataError, read_labelled
from musktracker.sentiment.mean_pooled import MeanPooledBertForSequenceClassification
from musktracker.sentiment.transformer import (
    TrainConfig,
    base_depth,
    check_base,
    class_weights,
    fine_tune,
    length_grouped_batches,
    load_base,
    parameter_groups,
    training_batches,
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


def test_oldest_first_takes_each_year_in_turn_and_unknown_years_last():
    rng = random.Random(3)
    years = [rng.choice([2015, None, 2013, 2016]) for _ in range(500)]
    lengths = [rng.randint(1, 60) for _ in range(500)]
    batches = list(training_batches(years, lengths, 32, random.Random(4), "oldest_first"))
    assert sorted(i for batch in batches for i in batch) == list(range(500))
    order = [years[batch[0]] for batch in batches]
    assert all(len({years[i] for i in batch}) == 1 for batch in batches)  # one year a batch
    assert order == sorted(order, key=lambda y: (y is None, y or 0))
    mixed = list(training_batches(years, lengths, 32, random.Random(4), "random"))
    assert any(len({years[i] for i in batch}) > 1 for batch in mixed)


def test_class_weights_favour_rare_classes():
    labels = [0] + [1] * 5 + [2] * 4
    inverse = class_weights(labels, "inverse").tolist()
    sqrt = class_weights(labels, "sqrt").tolist()
    assert inverse[0] > inverse[2] > inverse[1]
    assert sqrt[0] > sqrt[2] > sqrt[1]
    assert sqrt[0] / sqrt[1] == pytest.approx((inverse[0] / inverse[1]) ** 0.5)
    assert class_weights(labels, "none").tolist() == [1.0, 1.0, 1.0]
    assert np.mean(inverse) == pytest.approx(1.0) and np.mean(sqrt) == pytest.approx(1.0)


def test_mean_pooled_head_reads_the_mean_of_unpadded_token_states(tiny_base_model: Path):
    wrapped = load_base(str(tiny_base_model), 64)
    assert isinstance(wrapped.model, MeanPooledBertForSequenceClassification)
    model: Any = wrapped.model
    model.eval()
    inputs = wrapped.encode(["a short one", "a much longer text about rockets and electric cars"])
    with torch.no_grad():
        states = model.bert(**inputs).last_hidden_state
        n = int(inputs["attention_mask"][0].sum())
        expected = model.classifier(states[0, :n].mean(dim=0))
        assert torch.allclose(model(**inputs).logits[0], expected, atol=1e-5)


def test_mean_pooled_model_reloads_through_the_auto_class(tiny_base_model: Path, tmp_path: Path):
    wrapped = load_base(str(tiny_base_model), 64)
    wrapped.save(tmp_path / "model")
    again = AutoModelForSequenceClassification.from_pretrained(tmp_path / "model")
    assert isinstance(again, MeanPooledBertForSequenceClassification)
    texts = ["I love it", "this is awful"]
    assert np.allclose(
        load_model(tmp_path / "model").predict_proba(texts), wrapped.predict_proba(texts), atol=1e-5
    )


def test_loading_and_saving_print_no_weight_report_or_bar(
    tiny_base_model: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
):
    """The new head's MISSING/UNEXPECTED report is expected; users see only training."""
    verbosity = hf_logging.get_verbosity()
    load_base(str(tiny_base_model), 64)
    load_base(str(tiny_base_model), 64, pooling="cls").save(tmp_path / "saved")
    printed = "".join(capfd.readouterr())
    assert "MISSING" not in printed and "LOAD REPORT" not in printed, printed
    assert "Loading weights" not in printed and "Writing model shards" not in printed, printed
    assert hf_logging.get_verbosity() == verbosity  # transformers' own setting restored


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_layers_keeps_the_lowest_encoder_layers_of_the_base(tiny_base_model: Path, pooling: str):
    full: Any = load_base(str(tiny_base_model), 64, pooling=pooling).model  # type: ignore[arg-type]
    cut: Any = load_base(str(tiny_base_model), 64, pooling, layers=1).model  # type: ignore[arg-type]
    assert len(full.bert.encoder.layer) == 2 and len(cut.bert.encoder.layer) == 1
    assert torch.equal(  # the kept layer is the base's lowest, not a fresh one
        cut.bert.encoder.layer[0].output.dense.weight,
        full.bert.encoder.layer[0].output.dense.weight,
    )


def test_expected_time_shrinks_with_the_layers_kept(tiny_base_model: Path, tmp_path: Path):
    depth = base_depth(str(tiny_base_model))
    assert depth == 2
    full = TrainConfig(base_model=str(tiny_base_model))
    cut = TrainConfig(base_model=str(tiny_base_model), layers=1)
    for cut_seconds, full_seconds in zip(
        cut.expected_seconds(47_557, depth), full.expected_seconds(47_557, depth), strict=True
    ):  # measured: 3 of 6 layers, 0.57 of the time
        assert cut_seconds / full_seconds == pytest.approx(0.57)
    fast, slow = full.expected_seconds(47_557, depth)
    assert 18 * 60 < fast < slow < 50 * 60  # the full file: 19.7 and 47.5 min measured
    with pytest.raises(SentimentDataError, match=r"^SENTIMENT_BASE_MODEL: "):
        base_depth(str(tmp_path / "no-such-model"))


def test_cls_pooling_is_the_standard_head(tiny_base_model: Path):
    model = load_base(str(tiny_base_model), 64, pooling="cls").model
    assert type(model).__name__ == "BertForSequenceClassification"


def _weights(model: Any) -> dict[str, torch.Tensor]:
    return {
        "words": model.get_input_embeddings().weight.detach().clone(),
        "positions": model.bert.embeddings.position_embeddings.weight.detach().clone(),
        "layer0": model.bert.encoder.layer[0].output.dense.weight.detach().clone(),
        "layer1": model.bert.encoder.layer[1].output.dense.weight.detach().clone(),
    }


@pytest.mark.parametrize(
    ("frozen_layers", "unchanged"),
    [(0, {"words"}), (1, {"words", "positions", "layer0"})],
)
def test_fine_tune_freezes_word_embeddings_and_the_lowest_layers(
    tiny_base_model: Path, semeval_train: Path, frozen_layers: int, unchanged: set[str]
):
    data = read_labelled(semeval_train).head(32)
    base = load_base(str(tiny_base_model), 64)
    before = _weights(base.model)
    config = TrainConfig(
        base_model=str(tiny_base_model), batch_size=16, frozen_layers=frozen_layers
    )
    after = _weights(fine_tune(data, config, base=base).model)
    assert {name for name in before if torch.equal(before[name], after[name])} == unchanged


@pytest.mark.parametrize("pooling", ["mean", "cls"])
@pytest.mark.parametrize(("dropout", "expected"), [(None, 0.1), (0.0, 0.0), (0.5, 0.5)])
def test_fine_tune_sets_every_dropout_layer(
    tiny_base_model: Path,
    semeval_train: Path,
    pooling: str,
    dropout: float | None,
    expected: float,
):
    """The tiny base says 0.1, kept when no dropout is configured; otherwise training must use
    the configured probability everywhere, attention weights included, so passes in
    training mode repeat exactly only at 0."""
    data = read_labelled(semeval_train).head(16)
    config = TrainConfig(
        base_model=str(tiny_base_model), batch_size=16, pooling=pooling, dropout=dropout  # type: ignore[arg-type]
    )
    wrapped = fine_tune(data, config)
    layers = [m for m in wrapped.model.modules() if isinstance(m, torch.nn.Dropout)]
    assert layers and {m.p for m in layers} == {expected}
    inputs = wrapped.encode(["what a day", "not good at all, really"])
    wrapped.model.train()
    with torch.no_grad():
        first, second = (wrapped.model(**inputs).logits for _ in range(2))
    assert torch.equal(first, second) == (expected == 0.0)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_learning_rate_shrinks_by_the_layer_decay_below_the_head(
    tiny_base_model: Path, pooling: str
):
    model = load_base(str(tiny_base_model), 64, pooling).model  # type: ignore[arg-type]
    config = TrainConfig(base_model=str(tiny_base_model), learning_rate=1e-3, layer_decay=0.5)
    rate_of = {
        id(p): (group["lr"], group["weight_decay"])
        for group in parameter_groups(model, config)
        for p in group["params"]  # type: ignore[attr-defined]
    }
    named = dict(model.named_parameters())
    prefix = "bert." if pooling == "mean" else model.base_model_prefix + "."
    depth = model.config.num_hidden_layers
    assert depth == 2
    top, bottom = f"{prefix}encoder.layer.1.", f"{prefix}encoder.layer.0."
    assert rate_of[id(named["classifier.weight"])] == (1e-3, config.weight_decay)
    assert rate_of[id(named[top + "output.dense.weight"])] == (5e-4, config.weight_decay)
    assert rate_of[id(named[top + "output.dense.bias"])] == (5e-4, 0.0)
    assert rate_of[id(named[bottom + "output.dense.weight"])] == (2.5e-4, config.weight_decay)
    positions = named[f"{prefix}embeddings.position_embeddings.weight"]
    assert rate_of[id(positions)] == (1.25e-4, config.weight_decay)
    assert set(rate_of) == {id(p) for p in model.parameters()}
    flat = TrainConfig(base_model=str(tiny_base_model), learning_rate=1e-3, layer_decay=1.0)
    assert {group["lr"] for group in parameter_groups(model, flat)} == {1e-3}


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


def test_schedule_counts_the_partial_batch_of_every_year(tiny_base_model: Path):
    """Three years of 20 rows make 6 batches of at most 16, not ceil(60 / 16) = 4: the
    progress and the learning-rate schedule must know every step."""
    data = LabelledTexts(
        ["good day", "bad day", "a day"] * 20,
        ["positive", "negative", "neutral"] * 20,
        tuple(year for year in (2013, 2014, 2015) for _ in range(20)),
    )
    config = TrainConfig(base_model=str(tiny_base_model), batch_size=16, epochs=2)
    steps: list[tuple[int, int]] = []
    fine_tune(data, config, on_step=lambda s, total, loss: steps.append((s, total)))
    assert steps == [(s, 12) for s in range(1, 13)]


def test_predictions_do_not_depend_on_batch_order(tiny_base_model: Path):
    from musktracker.sentiment.transformer import load_base

    model = load_base(str(tiny_base_model), 64)
    texts = ["short", "a somewhat longer text about rockets and cars", "mid length text"]
    together = model.predict_proba(texts, batch_size=3)
    alone = np.vstack([model.predict_proba([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-5)


def test_unknown_base_model_is_a_clear_error(tmp_path: Path):
    config = TrainConfig(base_model=str(tmp_path / "nothing-here"))
    with pytest.raises(SentimentDataError, match=r"^SENTIMENT_BASE_MODEL: "):
        fine_tune(LabelledTexts(["a"], ["neutral"]), config)


def test_base_model_problems_are_found_without_loading_weights(
    tiny_base_model: Path, tmp_path: Path
):
    assert check_base(str(tiny_base_model)) == 2
    with pytest.raises(SentimentDataError, match=r"^--layers: 3 is outside 1..2"):
        check_base(str(tiny_base_model), "mean", 3)
    with pytest.raises(SentimentDataError, match=r"is a file; give the model's directory"):
        check_base(str(tiny_base_model / "config.json"))
    config_only = tmp_path / "cfgonly"
    config_only.mkdir()
    (config_only / "config.json").write_text((tiny_base_model / "config.json").read_text())
    not_a_model = r"not a Hugging Face model directory \(no "
    with pytest.raises(SentimentDataError, match=not_a_model + "weights"):
        check_base(str(config_only))
    with pytest.raises(SentimentDataError, match=not_a_model + "config"):
        check_base(str(tmp_path))
    # Offline, a name transformers cannot find was "We couldn't connect to huggingface.co".
    for name, expected in (
        ("../no-such-dir", r"^--base-model: directory not found: '../no-such-dir'$"),
        ("no-such-org/no-such-model", r"^--base-model: 'no-such-org/no-such-model' is not a "
         r"directory, nor in the Hugging Face cache \(.+\); nothing is downloaded"),
        ("not a name", r"^--base-model: 'not a name' is neither a directory nor a Hugging Face"),
    ):
        with pytest.raises(SentimentDataError, match=expected):
            check_base(name, where="--base-model")
    # Without an option (the worker, or a CLI run that left it out) the setting is named.
    with pytest.raises(SentimentDataError, match=r"^SENTIMENT_BASE_MODEL: directory not found"):
        check_base("../no-such-dir")
    # A config transformers cannot read is a ValueError there: one clear error here.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    (broken / "model.safetensors").write_bytes(b"")
    unloadable = r"^SENTIMENT_BASE_MODEL: cannot load"
    with pytest.raises(SentimentDataError, match=unloadable):
        check_base(str(broken))
    with pytest.raises(SentimentDataError, match=unloadable):
        load_base(str(broken), 64)
