"""Fine-tuning and serving a Hugging Face encoder (AutoModelForSequenceClassification).

Sized for a 2-core CPU: max length 64, dynamic padding, batches grouped by length so little
compute is spent on padding, the word-embedding matrix frozen (its dense AdamW update was a
third of every step), one torch thread by default (two threads are slower than one when
anything else runs on the machine). The default head mean-pools the token states
(`mean_pooled.py`). Models are only ever read from local files or the local Hugging Face
cache: HF_HUB_OFFLINE is set unless the user set it.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import torch
from huggingface_hub import constants as hf_constants
from huggingface_hub import try_to_load_from_cache
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    get_linear_schedule_with_warmup,
)
from transformers.utils import logging as hf_logging

from musktracker.sentiment.artifact import ModelMeta
from musktracker.sentiment.checkpoint import Checkpointer
from musktracker.sentiment.data import (
    DEFAULT_SEED,
    LABEL_INDEX,
    LABELS,
    LabelledTexts,
    SentimentDataError,
    first_line,
)
from musktracker.sentiment.mean_pooled import MeanPooledBertForSequenceClassification
from musktracker.sentiment.preprocess import (
    TRANSFORMER_PREPROCESS,
    PreprocessConfig,
    preprocess_all,
)

# Seconds per tweet per epoch of the default recipe (one thread, frozen word embeddings) in
# full-data runs on the two 2-core machines measured (docs/MODELS.md): an Intel Xeon with
# AVX-512 (19.7 min for 47,557 tweets) and an AMD EPYC with AVX2 only (5.9 s per 100 tweets
# at load average 1.5-3). CPUs of the same size differ this much, so both are shown.
SECONDS_PER_TEXT_EPOCH = (0.025, 0.06)

Pooling = Literal["mean", "cls"]
ClassWeighting = Literal["sqrt", "inverse", "none"]
Order = Literal["oldest_first", "random"]


@dataclass(frozen=True)
class TrainConfig:
    """Fine-tuning hyperparameters (defaults chosen on train subsets; see docs/MODELS.md).

    `pooling`: "mean" (mean of the token states; BERT-architecture bases) or "cls" (the
    base's standard AutoModelForSequenceClassification head, for any base).
    `class_weighting`: loss weights from class frequencies: "inverse" (balanced; the best for
    macro recall on held-out train and dev), "sqrt" (its square root) or "none".
    `frozen_layers`: lowest encoder layers kept frozen with all embeddings (no backward pass
    through them; three made steps about a quarter faster and cost about a point).
    `order`: "oldest_first" trains on each year of the data in turn, oldest first, so the
    schedule ends on the language closest to today's posts (+0.8 points of dev macro recall
    on the shared files, docs/MODELS.md); "random" mixes all years. Rows without a year
    count as newest.
    `layers`: keep only the lowest N encoder layers of the base (None: all). Inference and
    training cost fall about in proportion; the accuracy given up is measured in
    docs/MODELS.md.
    `layer_decay`: layer-wise learning-rate decay: the head trains at `learning_rate`, the
    top encoder layer at `learning_rate * layer_decay`, each layer below at `layer_decay`
    times the one above and the embeddings below the lowest layer, so the general features
    of the lower layers move least (1.0: one rate for all).
    `dropout`: the probability of every dropout layer of the base and the head while
    fine-tuning (embeddings, attention weights, hidden states, head); None keeps the base's
    own (0.1 for all-MiniLM-L6-v2). 0 makes steps 8-10% cheaper and scored the same in fp32
    over three seeds, but its model lost 0.5 points through int8 serving where 0.1 lost
    none (docs/MODELS.md), so None is the default.
    """

    base_model: str
    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 1.5e-4
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    max_length: int = 64
    pooling: Pooling = "mean"
    class_weighting: ClassWeighting = "inverse"
    freeze_word_embeddings: bool = True
    frozen_layers: int = 0
    seed: int = DEFAULT_SEED
    threads: int = 1
    order: Order = "oldest_first"
    layers: int | None = None
    layer_decay: float = 0.8
    dropout: float | None = None

    def expected_seconds(self, n_texts: int, base_layers: int) -> tuple[float, float]:
        """Rough wall time (fastest, slowest) on the lightly loaded 2-core CPUs measured,
        shown before training.

        An encoder cut to `layers` of the base's `base_layers` costs its share of the layers
        plus a part that does not shrink (embeddings, head, tokenising): 3 of 6 layers took
        0.57 of the full model's time in the same conditions.
        """
        share = 1.0 if self.layers is None else 0.14 + 0.86 * self.layers / base_layers
        fast, slow = (n_texts * self.epochs * rate * share for rate in SECONDS_PER_TEXT_EPOCH)
        return fast, slow


StepCallback = Callable[[int, int, float], None]
EpochCallback = Callable[[int, float, np.ndarray], None]


class TransformerModel:
    """A sequence classifier with its tokenizer and preprocessing."""

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        meta: ModelMeta,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.meta = meta

    @property
    def preprocess_config(self) -> PreprocessConfig:
        return self.meta.preprocess_config()

    def encode(self, clean_texts: list[str]) -> dict[str, torch.Tensor]:
        """Tokenise to the longest text in the batch (dynamic padding), capped at max_length."""
        encoded = self.tokenizer(
            clean_texts,
            padding=True,
            truncation=True,
            max_length=self.meta.max_length,
            return_tensors="pt",
        )
        return dict(encoded)

    @torch.inference_mode()
    def predict_proba(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Probabilities per text, batched; texts are sorted by length to limit padding."""
        if not texts:
            return np.zeros((0, len(LABELS)))
        self.model.eval()  # type: ignore[no-untyped-call]
        clean = preprocess_all(texts, self.preprocess_config)
        order = sorted(range(len(clean)), key=lambda i: len(clean[i]))
        result = np.zeros((len(clean), len(LABELS)))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            logits = self.model(**self.encode([clean[i] for i in chunk])).logits
            result[chunk] = torch.softmax(logits.float(), dim=-1).numpy()
        return result

    def save(self, directory: Path) -> None:
        with _quiet_transformers():  # no "Writing model shards" bar after training's own
            self.model.save_pretrained(directory)
            self.tokenizer.save_pretrained(directory)
        self.meta.save(directory)

    @classmethod
    def load(cls, directory: Path, threads: int = 1) -> TransformerModel:
        set_threads(threads)
        meta = ModelMeta.load(directory)
        with _quiet_transformers():  # no "Loading weights" bar in front of every predict
            model = AutoModelForSequenceClassification.from_pretrained(directory)
            tokenizer = AutoTokenizer.from_pretrained(directory)
        model.eval()
        return cls(model, tokenizer, meta)

    def quantized(self) -> TransformerModel:
        """A copy with int8 dynamic quantization of every Linear layer (CPU inference only)."""
        from torch.ao.quantization import quantize_dynamic

        model = quantize_dynamic(  # type: ignore[no-untyped-call]
            self.model, {torch.nn.Linear}, dtype=torch.qint8
        )
        return TransformerModel(model, self.tokenizer, self.meta)


def set_threads(threads: int) -> None:
    """Use `threads` intra-op threads (inter-op stays at one)."""
    if threads < 1:
        raise SentimentDataError(f"SENTIMENT_TORCH_THREADS: must be >= 1, got {threads}")
    torch.set_num_threads(threads)


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Hide transformers' load report and progress bars while a model loads or saves.

    A new head over a base always reports its weights as MISSING (and the unused pooler as
    UNEXPECTED) with a warning that the checkpoint may be incompatible: expected here, and
    a wall of text in front of the one progress bar users should watch.
    """
    verbosity = hf_logging.get_verbosity()
    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity(logging.ERROR)
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bar:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


BASE_MODEL_SETTING = "SENTIMENT_BASE_MODEL"
"""Where a base model named in an error came from when no option gave it."""


def _unloadable(
    base_model: str, exc: Exception, where: str = BASE_MODEL_SETTING
) -> SentimentDataError:
    return SentimentDataError(
        f"{where}: cannot load {base_model!r} from local files (downloads are off): "
        f"{first_line(exc)}"
    )


def base_depth(base_model: str) -> int:
    """Encoder layers of `base_model`, read from its config alone (no weights loaded)."""
    try:
        return int(AutoConfig.from_pretrained(base_model).num_hidden_layers)
    except (OSError, ValueError) as exc:
        raise _unloadable(base_model, exc) from None


def _check_cached(base_model: str, where: str) -> None:
    """A name that is no local path must be in the Hugging Face cache while downloads are
    off (HF_HUB_OFFLINE, the default): transformers would speak of failing to connect."""
    if base_model.startswith(("/", ".", "~")):
        raise SentimentDataError(f"{where}: directory not found: {base_model!r}")
    if os.environ.get("HF_HUB_OFFLINE", "").upper() not in {"1", "ON", "YES", "TRUE"}:
        return  # the user allowed downloads
    try:
        cached = try_to_load_from_cache(base_model, "config.json")
    except ValueError:  # HFValidationError: "a b", a URL, an over-long name
        raise SentimentDataError(
            f"{where}: {base_model!r} is neither a directory nor a Hugging Face model name"
        ) from None
    if not isinstance(cached, str):
        raise SentimentDataError(
            f"{where}: {base_model!r} is not a directory, nor in the Hugging Face cache "
            f"({hf_constants.HF_HUB_CACHE}); nothing is downloaded, so give a model directory "
            "or a name cached earlier"
        )


def _check_layout(base_model: str, where: str) -> None:
    """A local path must be a Hugging Face model directory: config.json and weights."""
    path = Path(base_model).expanduser()
    if not path.exists():
        _check_cached(base_model, where)
        return
    if path.is_file():
        raise SentimentDataError(
            f"{where}: {base_model!r} is a file; give the model's directory (config.json, "
            "tokenizer and weights) or a cached Hugging Face name"
        )
    if not (path / "config.json").is_file():
        raise SentimentDataError(
            f"{where}: {base_model!r} is not a Hugging Face model directory (no config.json)"
        )
    weights = ("*.safetensors", "pytorch_model*.bin", "*.safetensors.index.json")
    if not any(next(path.glob(pattern), None) for pattern in weights):
        raise SentimentDataError(
            f"{where}: {base_model!r} is not a Hugging Face model directory (no weights: "
            "model.safetensors or pytorch_model.bin)"
        )


@functools.lru_cache(maxsize=16)  # the CLI and run_training both check; errors are not cached
def check_base(
    base_model: str,
    pooling: Pooling = "mean",
    layers: int | None = None,
    where: str = BASE_MODEL_SETTING,
) -> int:
    """Check, before any MLflow run starts, that `base_model` loads (its tokenizer and config;
    no weights are read), that `layers` fits its depth and `pooling` its architecture.
    Returns its number of encoder layers. Every problem is a SentimentDataError naming the
    option or setting; `where` is the one the base model came from (`--base-model` when the
    user gave it)."""
    _check_layout(base_model, where)
    try:
        with _quiet_transformers():
            AutoTokenizer.from_pretrained(base_model)
            base_config = AutoConfig.from_pretrained(base_model)
    except (OSError, ValueError) as exc:
        raise _unloadable(base_model, exc, where) from None
    depth = int(base_config.num_hidden_layers)
    _check_fit(base_model, base_config.model_type, depth, pooling, layers)
    return depth


def _check_fit(
    base_model: str, model_type: str, depth: int, pooling: Pooling, layers: int | None
) -> None:
    if layers is not None and not 1 <= layers <= depth:
        raise SentimentDataError(
            f"--layers: {layers} is outside 1..{depth}, the encoder layers of {base_model!r}"
        )
    if pooling == "mean" and model_type != "bert":
        raise SentimentDataError(
            f"--pooling mean needs a BERT-architecture base model; {base_model!r} is "
            f"{model_type!r}: use --pooling cls"
        )


def load_base(
    base_model: str, max_length: int, pooling: Pooling = "mean", layers: int | None = None
) -> TransformerModel:
    """A fresh 3-class head on `base_model` (a local directory or a cached Hub name), on its
    lowest `layers` encoder layers (None: all of them)."""
    _check_layout(base_model, BASE_MODEL_SETTING)
    try:
        with _quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(base_model)
            base_config = AutoConfig.from_pretrained(base_model)
            depth = base_config.num_hidden_layers
            _check_fit(base_model, base_config.model_type, depth, pooling, layers)
            head: type[PreTrainedModel] | type[AutoModelForSequenceClassification] = (
                AutoModelForSequenceClassification
            )
            if pooling == "mean":
                head = MeanPooledBertForSequenceClassification
            model = head.from_pretrained(
                base_model,
                num_labels=len(LABELS),
                id2label=dict(enumerate(LABELS)),
                label2id=dict(LABEL_INDEX),
                num_hidden_layers=layers or depth,
            )
    except SentimentDataError:
        raise
    except (OSError, ValueError) as exc:
        raise _unloadable(base_model, exc) from None
    meta = ModelMeta(
        kind="transformer",
        base_model=base_model,
        preprocess=TRANSFORMER_PREPROCESS.to_dict(),
        max_length=max_length,
    )
    return TransformerModel(model, tokenizer, meta)


def length_grouped_batches(
    lengths: list[int], batch_size: int, rng: random.Random, pool: int = 50
) -> Iterator[list[int]]:
    """Shuffled batches of indices whose texts have similar lengths.

    Indices are shuffled, cut into pools of `pool` batches, sorted by length inside each
    pool and split into batches; the batch order is shuffled again. Padding shrinks a lot
    while batches stay random enough for SGD.
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    span = batch_size * pool
    for start in range(0, len(order), span):
        group = sorted(order[start : start + span], key=lambda i: lengths[i])
        batches.extend(group[i : i + batch_size] for i in range(0, len(group), batch_size))
    rng.shuffle(batches)
    yield from batches


def training_batches(
    years: list[int | None], lengths: list[int], batch_size: int, rng: random.Random, order: Order
) -> Iterator[list[int]]:
    """One epoch of length-grouped batches: all rows at once ("random"), or each year's rows
    in turn, oldest first and unknown years last ("oldest_first")."""
    if order == "random":
        yield from length_grouped_batches(lengths, batch_size, rng)
        return
    for year in sorted(set(years), key=lambda y: (y is None, y or 0)):
        rows = [i for i, y in enumerate(years) if y == year]
        for batch in length_grouped_batches([lengths[i] for i in rows], batch_size, rng):
            yield [rows[i] for i in batch]


def class_weights(label_ids: list[int], weighting: ClassWeighting = "inverse") -> torch.Tensor:
    """Loss weights normalised to mean 1: inverse frequency (macro recall rewards rare
    classes), its square root (a milder push), or all ones."""
    counts = np.bincount(label_ids, minlength=len(LABELS)).astype(float)
    weights = len(label_ids) / (len(LABELS) * np.maximum(counts, 1.0))
    if weighting == "sqrt":
        weights = np.sqrt(weights)
    elif weighting == "none":
        weights = np.ones_like(weights)
    return torch.tensor(weights / weights.mean(), dtype=torch.float32)


def freeze(model: PreTrainedModel, word_embeddings: bool, layers: int) -> None:
    """Stop training the word-embedding matrix and/or all embeddings plus the lowest `layers`
    encoder layers (the first ModuleList of the base model: BERT, DistilBERT, RoBERTa)."""
    if word_embeddings:
        model.get_input_embeddings().requires_grad_(False)
    if layers <= 0:
        return
    model.get_input_embeddings().requires_grad_(False)
    base = model.base_model
    stack = next(m for m in base.modules() if isinstance(m, torch.nn.ModuleList))
    for module in [getattr(base, "embeddings", None), *list(stack)[:layers]]:
        if module is not None:
            module.requires_grad_(False)


def set_dropout(model: torch.nn.Module, probability: float) -> None:
    """Set every dropout layer (BERT's attention dropout reads its module's `p` too)."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = probability


_NO_DECAY = ("bias", "LayerNorm.weight", "layer_norm", "norm.weight")
_LAYER_INDEX = re.compile(r"\.layers?\.(\d+)\.")


def parameter_groups(model: PreTrainedModel, config: TrainConfig) -> list[dict[str, object]]:
    """AdamW groups of the trainable parameters: no weight decay on biases and norms, and a
    learning rate that shrinks by `layer_decay` per encoder layer below the head."""
    depth = int(model.config.num_hidden_layers)
    groups: dict[tuple[float, float], list[torch.nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        layer = _LAYER_INDEX.search(name)
        if layer is not None:
            below_head = depth - int(layer.group(1))
        elif "embeddings" in name:
            below_head = depth + 1
        else:
            below_head = 0
        rate = config.learning_rate * config.layer_decay**below_head
        decay = 0.0 if any(k in name for k in _NO_DECAY) else config.weight_decay
        groups.setdefault((rate, decay), []).append(parameter)
    return [
        {"params": params, "lr": rate, "weight_decay": decay}
        for (rate, decay), params in groups.items()
    ]


def training_setup(model: PreTrainedModel, config: TrainConfig) -> torch.optim.AdamW:
    """Freeze and set dropout as `config` says, and return the recipe's optimiser."""
    freeze(model, config.freeze_word_embeddings, config.frozen_layers)
    if config.dropout is not None:
        set_dropout(model, config.dropout)
    return torch.optim.AdamW(parameter_groups(model, config), lr=config.learning_rate)


def training_step(
    model: PreTrainedModel,
    inputs: dict[str, torch.Tensor],
    targets: torch.Tensor,
    loss_fn: torch.nn.Module,
    optimiser: torch.optim.Optimizer,
) -> float:
    """One optimiser step on one batch (gradient clipped at 1.0); returns the loss."""
    loss = loss_fn(model(**inputs).logits, targets)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimiser.step()
    optimiser.zero_grad()
    return float(loss.item())


def _training_state(
    model: PreTrainedModel,
    optimiser: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    step: int,
    epoch_losses: list[float],
) -> dict[str, object]:
    """What a resumed run needs; frozen weights are left out (they come from the base)."""
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    return {
        "step": step,
        "epoch_losses": epoch_losses,
        "weights": {k: v for k, v in model.state_dict().items() if k in trainable},
        "optimiser": optimiser.state_dict(),
        "schedule": schedule.state_dict(),
        "torch_rng": torch.get_rng_state(),
    }


def fine_tune(
    train: LabelledTexts,
    config: TrainConfig,
    dev: LabelledTexts | None = None,
    on_step: StepCallback | None = None,
    on_epoch: EpochCallback | None = None,
    base: TransformerModel | None = None,
    checkpoint: Checkpointer | None = None,
) -> TransformerModel:
    """Fine-tune `config.base_model` (or `base`) on `train` with AdamW and linear warmup/decay.

    `on_step(step, total_steps, loss)` is called after every optimiser step;
    `on_epoch(epoch, mean_loss, dev_probabilities)` after each epoch (dev may be None).
    With `checkpoint`, the state is saved as it says and a saved state of the same training
    is resumed: the steps it took are skipped, and the result is the same as without a stop.
    """
    if len(train) == 0:
        raise SentimentDataError("training data is empty")
    set_threads(config.threads)
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    wrapped = base or load_base(config.base_model, config.max_length, config.pooling, config.layers)
    model, prep = wrapped.model, wrapped.preprocess_config
    clean = preprocess_all(train.texts, prep)
    label_ids = train.label_ids()
    weights = class_weights(label_ids, config.class_weighting)
    optimiser = training_setup(model, config)
    lengths = [len(t) for t in clean]
    years = train.year_of_each()
    epochs = [  # drawn up front so the schedule knows every step (a partial batch per year)
        list(training_batches(years, lengths, config.batch_size, rng, config.order))
        for _ in range(config.epochs)
    ]
    total = sum(len(batches) for batches in epochs)
    warmup = int(total * config.warmup_ratio)
    schedule = get_linear_schedule_with_warmup(optimiser, warmup, total)  # type: ignore[no-untyped-call]
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights)
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is not None:
        model.load_state_dict(saved["weights"], strict=False)
        optimiser.load_state_dict(saved["optimiser"])
        schedule.load_state_dict(saved["schedule"])
        torch.set_rng_state(saved["torch_rng"])
    done = saved["step"] if saved is not None else 0
    step = 0
    for epoch, batches in enumerate(epochs, start=1):
        if step + len(batches) < done:  # an epoch finished before the stop
            step += len(batches)
            continue
        model.train()
        resumed = saved is not None and step < done  # the stop fell in this epoch
        losses: list[float] = list(saved["epoch_losses"]) if resumed and saved else []
        skipped = max(0, done - step)
        step += skipped
        for batch in batches[skipped:]:
            inputs = wrapped.encode([clean[i] for i in batch])
            targets = torch.tensor([label_ids[i] for i in batch])
            losses.append(training_step(model, inputs, targets, loss_fn, optimiser))
            schedule.step()
            step += 1
            if on_step is not None:
                on_step(step, total, losses[-1])
            if checkpoint is not None and checkpoint.due() and step < total:
                checkpoint.save(_training_state(model, optimiser, schedule, step, losses))
        model.eval()  # type: ignore[no-untyped-call]
        dev_probabilities = (
            wrapped.predict_proba(dev.texts) if dev is not None else np.zeros((0, len(LABELS)))
        )
        if on_epoch is not None:
            on_epoch(epoch, float(np.mean(losses)), dev_probabilities)
    return wrapped
