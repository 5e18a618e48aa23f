"""`musktracker sentiment`: train, evaluate, serve and retrain the sentiment model."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar, get_args

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from musktracker.cli.helptext import run_module
from musktracker.cli.runtime import console, database, fail, handle_errors, noun, settings
from musktracker.sentiment.data import (
    DEFAULT_SEED,
    LABELS,
    LabelledTexts,
    SentimentDataError,
    check_texts,
    read_labelled,
    read_texts,
)

# torch, transformers, mlflow and scikit-learn load only when a sentiment command runs, so
# every other `musktracker` command starts fast (and works without the sentiment extra).
if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from musktracker.sentiment.metrics import Evaluation
    from musktracker.sentiment.retrain import Decision
    from musktracker.sentiment.training import ModelChoice, TrainingResult

app = typer.Typer(
    help="Sentiment of posts: fine-tuned transformer, MLflow tracking and registry, cached "
    "inference, self-triggering retraining.\n\n"
    'Example: musktracker sentiment predict "what a great launch"',
    no_args_is_help=True,
)

P = ParamSpec("P")
R = TypeVar("R")


def sentiment_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Bad sentiment input or an MLflow refusal: one clear line and exit 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except SentimentDataError as exc:
            raise fail(str(exc)) from None
        except Exception as exc:
            if type(exc).__module__.startswith("mlflow."):
                raise fail(f"MLflow: {exc}") from None
            raise

    return handle_errors(wrapper)


def _scores_table(rows: dict[str, Evaluation], title: str) -> Table:
    table = Table("model", "n", "macro recall", "accuracy", "macro F1", title=title)
    for name, ev in rows.items():
        table.add_row(
            name, str(ev.n), f"{ev.macro_recall:.4f}", f"{ev.accuracy:.4f}", f"{ev.macro_f1:.4f}"
        )
    return table


def _absent_note(evaluation: Evaluation) -> str | None:
    """Say so when the macro averages leave out a class with no gold row."""
    if not evaluation.absent:
        return None
    kept = len(LABELS) - len(evaluation.absent)
    names = ", ".join(repr(label) for label in evaluation.absent)
    return (
        f"no gold {names} rows: macro recall and macro F1 are averaged over {kept} "
        f"{noun(kept, 'class', 'classes')}"
    )


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _confusion_table(evaluation: Evaluation) -> Table:
    table = Table("gold \\ predicted", *LABELS, title="confusion matrix")
    for label, row in zip(LABELS, evaluation.confusion, strict=True):
        table.add_row(label, *(str(v) for v in row))
    return table


def _train_with_progress(
    kind: ModelChoice,
    train_data: LabelledTexts,
    dev: LabelledTexts,
    config: object | None,
    tags: dict[str, str] | None = None,
) -> TrainingResult:
    from musktracker.sentiment import services
    from musktracker.sentiment.training import run_training

    tracker = services.tracker(settings())
    if kind == "classic":
        with console.status("training the classic model (about a minute on the full file)"):
            return run_training(kind, train_data, dev, tracker, tags=tags)
    from musktracker.sentiment.transformer import TrainConfig, base_depth

    assert isinstance(config, TrainConfig)  # and checked by check_inputs
    fast, slow = config.expected_seconds(
        len(train_data), config.layers or base_depth(config.base_model)
    )
    expected = (
        f"{fast:.0f}-{slow:.0f} s" if slow < 120 else f"{fast / 60:.0f}-{slow / 60:.0f} min"
    )
    console.print(
        f"fine-tuning {escape(config.base_model)} on {len(train_data):,} "
        f"{noun(len(train_data), 'text')}, {config.epochs} {noun(config.epochs, 'epoch')}, "
        f"{config.threads} {noun(config.threads, 'thread')}: expect about {expected} "
        "on a lightly loaded 2-core CPU (the lower figure with AVX-512, the higher with "
        "AVX2 only; longer when other jobs share it); the bar shows the real pace"
    )
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("training steps", total=None)

        def on_step(step: int, total: int, loss: float) -> None:
            progress.update(task, completed=step, total=total, description=f"loss {loss:.3f}")

        checkpoint = services.checkpointing(settings())
        return run_training(kind, train_data, dev, tracker, config, on_step, tags, checkpoint)


def _transformer_config(
    base_model: str | None,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    pooling: str | None = None,
    order: str | None = None,
    seed: int | None = None,
    layers: int | None = None,
    layer_decay: float | None = None,
    dropout: float | None = None,
) -> object:
    """A TrainConfig with its own defaults wherever an option was not given.

    Keyword-only: the options share types, so a positional slip would pass type checks.
    """
    from musktracker.sentiment.transformer import Order, Pooling, TrainConfig

    current = settings()
    if base_model is not None and not base_model.strip():
        raise SentimentDataError(
            f"--base-model: {base_model!r} is empty; leave the option out for "
            "SENTIMENT_BASE_MODEL"
        )
    given: dict[str, object] = {
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "seed": seed,
        "layers": layers,
        "layer_decay": layer_decay,
        "dropout": dropout,
    }
    if learning_rate is not None and not learning_rate > 0.0:
        raise SentimentDataError(f"--lr: {learning_rate} must be > 0")
    if layer_decay is not None and not 0.0 < layer_decay <= 1.0:
        raise SentimentDataError(f"--layer-decay: {layer_decay} is outside (0, 1]")
    if dropout is not None and not 0.0 <= dropout < 1.0:
        raise SentimentDataError(f"--dropout: {dropout} is outside [0, 1)")
    for option, value, choices in (("pooling", pooling, Pooling), ("order", order, Order)):
        if value is not None and value not in get_args(choices):
            raise SentimentDataError(
                f"--{option}: {value!r} is not one of {', '.join(get_args(choices))}"
            )
        given[option] = value
    return TrainConfig(
        base_model=base_model or current.sentiment_base_model,
        threads=current.sentiment_torch_threads,
        **{k: v for k, v in given.items() if v is not None},  # type: ignore[arg-type]
    )


def _source(
    given: Path | None, option: str, configured: str, which: str
) -> tuple[Path, str]:
    """The file to read and the name its errors use: the option when given, else the
    setting (SENTIMENT_TRAIN_FILE / SENTIMENT_DEV_FILE)."""
    if given is not None:
        return given, option
    return Path(configured), f"SENTIMENT_{which}_FILE"


def _kind(classic: bool) -> ModelChoice:
    from musktracker.sentiment import services

    if classic:
        return "classic"
    if not services.torch_available():
        console.print("torch is not installed: training the classic model instead")
        return "classic"
    return "transformer"


@app.command("train")
@sentiment_errors
def train(
    data: Path | None = typer.Option(None, "--data", help="Labelled TSV (label, text)."),
    dev: Path | None = typer.Option(None, "--dev", help="Labelled dev TSV for evaluation."),
    base_model: str | None = typer.Option(
        None, "--base-model", help="Local directory or cached Hugging Face name."
    ),
    epochs: int | None = typer.Option(
        None, "--epochs", min=1, help="Passes over the training data (default 1)."
    ),
    max_train: int | None = typer.Option(
        None,
        "--max-train",
        min=1,
        help="Train on N rows drawn at random from the file (seeded by --seed; every year "
        "and label kept, in file order).",
    ),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1, help="Default 32."),
    learning_rate: float | None = typer.Option(
        None,
        "--lr",
        help="Default 1.5e-4: the head's; see --layer-decay for the layers. Must be > 0.",
    ),
    pooling: str | None = typer.Option(
        None,
        "--pooling",
        help="mean (default; BERT-architecture bases such as all-MiniLM) or cls (any base).",
    ),
    order: str | None = typer.Option(
        None,
        "--order",
        help="oldest_first (default: each year of a source_file column in turn, so training "
        "ends on the newest tweets) or random (all years mixed).",
    ),
    seed: int | None = typer.Option(
        None,
        "--seed",
        help="Random seed of the head, dropout and batch order (default 13); runs with "
        "different seeds show how much of a score difference is noise.",
    ),
    layers: int | None = typer.Option(
        None,
        "--layers",
        min=1,
        help="Keep only the lowest N encoder layers of the base model (default: all; "
        "all-MiniLM-L6-v2 has 6). Fewer layers train and serve faster and score lower: "
        "docs/MODELS.md measures 3 and 4.",
    ),
    layer_decay: float | None = typer.Option(
        None,
        "--layer-decay",
        help="Layer-wise learning-rate decay: each encoder layer trains at this times the "
        "rate of the layer above it, the head at --lr (default 0.8; 1 for one rate).",
    ),
    dropout: float | None = typer.Option(
        None,
        "--dropout",
        help="Probability of every dropout layer while fine-tuning (default: the base "
        "model's own, 0.1 for all-MiniLM-L6-v2). 0 makes steps 8-10% cheaper and scores the "
        "same in fp32, but lost 0.5 points through int8 serving (docs/MODELS.md).",
    ),
    classic: bool = typer.Option(False, "--classic", help="TF-IDF + logistic regression."),
    make_champion: bool = typer.Option(
        False, "--promote", help="Give the new version the champion alias."
    ),
) -> None:
    """Train a model, log the run to MLflow and register a new version.

    The first version registered becomes the champion; later ones only with --promote
    (or through check-retrain). The transformer's expected time is printed before it
    starts (README: what to expect); the classic model takes about a minute.

    Example: musktracker sentiment train --max-train 3000 --epochs 1
    """
    from musktracker.sentiment import services
    from musktracker.sentiment.registry import sync_versions
    from musktracker.sentiment.training import check_inputs

    current = settings()
    transformer_only = {
        "--base-model": base_model,
        "--epochs": epochs,
        "--batch-size": batch_size,
        "--lr": learning_rate,
        "--pooling": pooling,
        "--order": order,
        "--layers": layers,
        "--layer-decay": layer_decay,
        "--dropout": dropout,
    }
    given = [option for option, value in transformer_only.items() if value is not None]
    if classic and given:
        raise SentimentDataError(
            f"--classic: {', '.join(given)} apply to the transformer only; drop "
            f"{'it' if len(given) == 1 else 'them'} or drop --classic"
        )
    kind = _kind(classic)
    if kind == "classic" and given:
        console.print(f"the classic model ignores {', '.join(given)}")
    config = (
        _transformer_config(
            base_model,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            pooling=pooling,
            order=order,
            seed=seed,
            layers=layers,
            layer_decay=layer_decay,
            dropout=dropout,
        )
        if kind == "transformer"
        else None
    )
    engine = database()
    train_data = read_labelled(*_source(data, "--data", current.sentiment_train_file, "TRAIN"))
    train_data = train_data.sample(max_train, seed if seed is not None else DEFAULT_SEED)
    dev_data = read_labelled(*_source(dev, "--dev", current.sentiment_dev_file, "DEV"))
    # Before any MLflow run starts; errors name the option or the setting the base came from.
    check_inputs(
        kind, train_data, dev_data, config,
        "--base-model" if base_model is not None else "SENTIMENT_BASE_MODEL",
    )
    missing = [label for label in LABELS if train_data.counts()[label] == 0]
    if missing:
        console.print(f"note: no {', '.join(missing)} rows in the training data")
    result = _train_with_progress(kind, train_data, dev_data, config)
    tracker = services.tracker(current)
    if make_champion or tracker.champion() is None:
        tracker.set_champion(result.version)
    sync_versions(engine, tracker)
    console.print(_scores_table({f"v{result.version} ({kind})": result.dev}, "dev set"))
    note = _absent_note(result.dev)
    if note:
        console.print(note)
    console.print(
        f"registered version {result.version} (run {result.run_id}) in "
        f"{_duration(result.seconds)}"
    )


@app.command("evaluate")
@sentiment_errors
def evaluate(
    data: Path | None = typer.Option(None, "--data", help="Labelled TSV; default the dev file."),
    version: int | None = typer.Option(None, "--version", help="Default: the champion."),
    plot: Path | None = typer.Option(
        None, "--plot", help="Save the confusion matrix plot (.png, .svg or .pdf)."
    ),
) -> None:
    """Macro recall (official TweetEval metric), accuracy, macro F1 and confusion matrix.

    The macro averages cover the classes present in the file's gold labels; the output
    says when a class is absent.

    Example: musktracker sentiment evaluate --data ../shared/data/sentiment/semeval_dev.tsv
    """
    from musktracker.sentiment import services
    from musktracker.sentiment.artifact import labels_of, load_version
    from musktracker.sentiment.metrics import check_plot_path, evaluate_labels, plot_confusion

    current = settings()
    if plot is not None:
        check_plot_path(plot)
    labelled = read_labelled(*_source(data, "--data", current.sentiment_dev_file, "DEV"))
    tracker = services.tracker(current)
    chosen = tracker.version(version, "--version") if version is not None else tracker.champion()
    if chosen is None:
        raise SentimentDataError("no champion yet: train a model or pass --version")
    scoring = f"scoring {len(labelled):,} {noun(len(labelled), 'text')}"
    with console.status(f"{scoring} with version {chosen.version}"):
        model = load_version(
            tracker.local_dir(chosen), chosen.version, current.sentiment_torch_threads
        )
        scores = evaluate_labels(
            labelled.labels,
            labels_of(model.predict_proba(labelled.texts, current.sentiment_batch_size)),
        )
    name = f"v{chosen.version} ({model.meta.kind})"
    console.print(
        _scores_table({name: scores}, escape(str(data or current.sentiment_dev_file)))
    )
    note = _absent_note(scores)
    if note:
        console.print(note)
    console.print(_confusion_table(scores))
    if plot is not None:
        try:
            written = plot_confusion(scores, plot, name)
            console.print(f"confusion matrix plot: {escape(str(written))}")
        except OSError as exc:
            reason = exc.strerror or exc
            raise SentimentDataError(f"--plot: cannot write {plot}: {reason}") from None


@app.command("predict")
@sentiment_errors
def predict(
    texts: list[str] | None = typer.Argument(None, help="Texts to score."),
    file: Path | None = typer.Option(
        None, "--file", help="One text a line, or a TSV with a header (see --column)."
    ),
    column: str | None = typer.Option(
        None, "--column", help="TSV column to read (default: 'text' when present)."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per text."),
) -> None:
    """Label texts with the champion: label, probabilities, model version.

    Empty or whitespace-only texts are refused (an argument, or a TSV field, by its line);
    blank lines of a plain file are skipped. Files are read as UTF-8.

    Example: musktracker sentiment predict "this rocket is amazing" --json
    """
    from musktracker.sentiment import services

    if column is not None and file is None:
        raise SentimentDataError(f"--column {column!r} picks a column of --file FILE; give one")
    inputs = check_texts(list(texts or []), "TEXT")
    if file is not None:
        inputs += read_texts(file, column)
    if not inputs:
        raise SentimentDataError("give TEXT arguments or --file FILE")
    predictions = services.predictor(settings()).predict(inputs)
    if as_json:
        for text, prediction in zip(inputs, predictions, strict=True):
            typer.echo(json.dumps({"text": text, **prediction.to_dict()}))
        return
    table = Table("text", "label", "negative", "neutral", "positive", "version")
    for text, p in zip(inputs, predictions, strict=True):
        shown = text if len(text) <= 60 else text[:57] + "..."
        table.add_row(  # Text: "[x]" in a text is not markup
            Text(shown), p.label, *(f"{v:.3f}" for v in p.probabilities.values()), p.model_version
        )
    console.print(table)


@app.command("models")
@sentiment_errors
def models() -> None:
    """List registered versions (refreshed from MLflow into sentiment_models).

    Example: musktracker sentiment models
    """
    from musktracker.sentiment import services
    from musktracker.sentiment.registry import sync_versions

    current = settings()
    rows = sync_versions(database(), services.tracker(current))
    if not rows:
        console.print("no versions yet; train one with `musktracker sentiment train`")
        return
    table = Table(
        "version", "status", "kind", "dev macro recall", "train min", "n train", "created"
    )
    for row in rows:
        table.add_row(
            str(row.version),
            row.status,
            row.kind,
            f"{row.dev_macro_recall:.4f}" if row.dev_macro_recall is not None else "-",
            f"{row.train_seconds / 60:.1f}" if row.train_seconds is not None else "-",
            f"{row.n_train:,}" if row.n_train is not None else "-",
            f"{row.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@app.command("promote")
@sentiment_errors
def promote_version(version: int = typer.Argument(..., help="Registered version number.")) -> None:
    """Move the champion alias to VERSION; running predictors switch within
    SENTIMENT_RELOAD_SECONDS.

    Example: musktracker sentiment promote 3
    """
    from musktracker.sentiment import services
    from musktracker.sentiment.registry import promote

    current = settings()
    tracker = services.tracker(current)
    before = tracker.champion()
    promote(database(), tracker, version)
    if before is not None and int(before.version) == version:
        console.print(
            f"version {version} is already the champion of {current.sentiment_model_name}"
        )
        return
    console.print(f"version {version} is now the champion of {current.sentiment_model_name}")


@app.command("add-samples")
@sentiment_errors
def add_samples_command(
    file: Path = typer.Argument(..., help="Labelled TSV with 'label' and 'text' columns."),
    source: str | None = typer.Option(None, "--source", help="Where they came from."),
    replace_labels: bool = typer.Option(
        False,
        "--replace-labels",
        help="Overwrite the stored label of a text the file labels differently (a "
        "correction); without it such a conflict is an error and nothing is stored.",
    ),
) -> None:
    """Store labelled samples for the next retraining (each distinct text once).

    A text already stored with the same label is skipped. Conflicting labels are refused
    with the texts named, nothing stored: the same text twice in the file with two labels,
    or a text stored earlier with another label (overwrite those with --replace-labels; a
    relabelled sample counts as not yet used in training).

    Example: musktracker sentiment add-samples corrections.tsv --source review-2026-11
    """
    from musktracker.sentiment.samples import add_samples, count_unused

    labelled = read_labelled(file, "FILE")
    engine = database()
    named = file.name if source is None else source  # an empty --source is refused, not replaced
    added = add_samples(engine, labelled, named, replace_labels=replace_labels)
    parts = [f"{added.added:,} new", f"{added.known:,} known"]
    if added.relabelled:
        parts.append(f"{added.relabelled:,} relabelled")
    if added.repeated:
        parts.append(f"{added.repeated:,} repeated in the file")
    console.print(f"read {added.read:,} {noun(added.read, 'sample')}: {', '.join(parts)}")
    console.print(f"labelled samples not yet used in training: {count_unused(engine):,}")


@contextmanager
def _retraining_lock(engine: Engine, wait: bool, dry_run: bool) -> Iterator[None]:
    """The retraining jobs' database lock, so a check here and one in the worker or the API
    never train two challengers at once; a dry run measures only and needs none."""
    from musktracker.worker.locks import database_lock, try_database_lock
    from musktracker.worker.sentiment_jobs import BUSY, RETRAIN_DB_LOCK

    if dry_run:
        yield
        return
    with try_database_lock(engine, RETRAIN_DB_LOCK) as taken:
        if taken:
            yield
            return
    if not wait:
        raise fail(f"{BUSY}; run this again when it has finished, or pass --wait")
    console.print(f"{BUSY}: waiting for it to finish")
    with database_lock(engine, RETRAIN_DB_LOCK):
        yield


def _since(hours: float) -> str:
    return f"{hours * 60:.0f} min" if hours < 1 else f"{hours:.1f} h"


def _triggers_table(decision: Decision) -> Table:
    """One row per trigger, under the name `fired:` and docs/MODELS.md use, with what was
    measured in words and whether it fired: a table of raw field names left the reader to
    guess that `hours_since_training` is `stale`, or why a trigger showed no value."""
    from musktracker.sentiment.retrain import MIN_RECENT

    values, limits = decision.values, decision.limits
    recent = values.recent_predictions
    unmeasured = (
        f"- ({recent} of the champion's predictions stored; needs {MIN_RECENT})"
        if recent < MIN_RECENT
        else "- (the champion has no training reference)"
    )

    def psi(value: float | None) -> str:
        return unmeasured if value is None else f"PSI {value:.3f} over the last {recent}"

    rows = {
        "new_samples": (
            f"{values.new_samples:,} labelled {noun(values.new_samples, 'sample')} the "
            "champion has not learned",
            f">= {limits.min_samples:,}",
        ),
        "stale": (
            "nothing registered yet"
            if values.hours_since_training is None
            else f"{_since(values.hours_since_training)} since the last training",
            f">= {limits.max_hours:g} h",
        ),
        "low_confidence": (
            unmeasured
            if values.mean_confidence is None
            else f"mean confidence {values.mean_confidence:.3f} over the last {recent}",
            f"< {limits.min_confidence:g}",
        ),
        "label_drift": (psi(values.label_psi), f"> {limits.psi:g}"),
        "length_drift": (psi(values.length_psi), f"> {limits.psi:g}"),
    }
    table = Table("trigger", "measured", "fires when", "fired", title="retraining triggers")
    for name, (measured, fires_when) in rows.items():
        table.add_row(name, measured, fires_when, "yes" if name in decision.fired else "no")
    return table


@app.command("check-retrain")
@sentiment_errors
def check_retrain_command(
    force: bool = typer.Option(False, "--force", help="Train a challenger even if none fires."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only measure the triggers."),
    classic: bool = typer.Option(False, "--classic", help="Challenger is the classic model."),
    max_train: int | None = typer.Option(
        None,
        "--max-train",
        min=1,
        help="Train on N rows of the training file drawn at random (seeded, in file order).",
    ),
    epochs: int | None = typer.Option(None, "--epochs", min=1, help="Default 1."),
    wait: bool = typer.Option(
        False,
        "--wait",
        help="If another retraining is running on this database, wait for it to end (up "
        "to the better part of an hour) and then check, instead of stopping with exit 1.",
    ),
) -> None:
    """Measure the retraining triggers; when one fires train a challenger and promote it
    only if it beats the champion's dev macro recall. The decision is stored.

    The challenger trains on SENTIMENT_TRAIN_FILE plus every labelled sample and is scored
    on SENTIMENT_DEV_FILE; the files are read only when a challenger is trained (never with
    --dry-run). The worker runs this check daily (job musktracker.sentiment.check_retrain).

    One retraining at a time per database: while another runs (the worker's check, POST
    /v1/sentiment/retrain, another check-retrain) this stops with an error and exit 1, or
    waits with --wait. --dry-run trains nothing, so it never waits.

    Example: musktracker sentiment check-retrain --dry-run
    """
    from musktracker.sentiment import services
    from musktracker.sentiment.retrain import check_retrain

    current = settings()
    engine = database()
    tracker = services.tracker(current)
    read_train, read_dev = services.training_data_readers(current)
    kind = _kind(classic)
    config = _transformer_config(None, epochs=epochs) if kind == "transformer" else None

    def base_train() -> LabelledTexts:
        return read_train().sample(max_train, DEFAULT_SEED)

    def train_challenger(data: LabelledTexts) -> TrainingResult:
        return _train_with_progress(kind, data, read_dev(), config, {"trigger": "retrain"})

    with _retraining_lock(engine, wait=wait, dry_run=dry_run):
        decision = check_retrain(
            engine,
            tracker,
            base_train,
            read_dev,
            services.thresholds(current),
            train_challenger,
            force=force,
            dry_run=dry_run,
        )
    console.print(_triggers_table(decision))
    console.print(f"fired: {', '.join(decision.fired) or 'none'}")
    if decision.challenger_version is not None:
        champion = (
            f"champion v{decision.champion_version} {decision.champion_macro_recall:.4f}"
            if decision.champion_macro_recall is not None
            else "no champion"
        )
        console.print(
            f"challenger v{decision.challenger_version} "
            f"{decision.challenger_macro_recall:.4f} vs {champion}: "
            f"{'promoted' if decision.promoted else 'kept the champion'}"
        )
    console.print(decision.reason)


if __name__ == "__main__":
    run_module(app)
