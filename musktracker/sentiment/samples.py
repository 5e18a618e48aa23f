"""Labelled samples collected after training (corrections, annotations) for retraining."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine

from musktracker.db.dialect import insert_ignoring_conflicts
from musktracker.db.models import LabelledSample
from musktracker.db.session import session_scope
from musktracker.sentiment.data import LabelledTexts, SentimentDataError, text_problem
from musktracker.utc import utcnow


@dataclass(frozen=True)
class AddedSamples:
    read: int
    added: int
    relabelled: int = 0
    """Stored texts whose label was replaced (only with `replace_labels`)."""
    repeated: int = 0
    """Rows repeating an earlier row of the same input (same text, same label)."""

    @property
    def duplicates(self) -> int:
        """Rows that stored nothing new: repeats within the input and texts already stored
        with the same label."""
        return self.read - self.added - self.relabelled

    @property
    def known(self) -> int:
        """Texts already stored with the same label."""
        return self.duplicates - self.repeated


class LabelConflictError(SentimentDataError):
    """The same text with two labels, within the input or against a stored sample."""


class SampleTextError(SentimentDataError):
    """A text that cannot be stored; `index` is its position in the input, from 0."""

    def __init__(self, index: int, text: str, problem: str) -> None:
        super().__init__(f"sample {index + 1} {_shown(text)}: {problem}")
        self.index = index
        self.problem = problem


def storage_problem(text: str) -> str | None:
    """Why `text` cannot be stored as a sample, or None: the checks of texts to score, and
    no NUL character, which PostgreSQL text cannot hold (SQLite can: the same input must
    not be fine on one database and a server error on the other)."""
    if "\x00" in text:
        return f"holds a NUL character (\\x00) at character {text.index(chr(0)) + 1}"
    return text_problem(text)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _listed(items: list[str]) -> str:
    more = f"; and {len(items) - 5} more" if len(items) > 5 else ""
    return "; ".join(items[:5]) + more


LOOKUP_CHUNK = 500
MAX_SOURCE = 256
"""The `source` column's width: a longer source is refused, not cut."""


def add_samples(
    engine: Engine, samples: LabelledTexts, source: str, replace_labels: bool = False
) -> AddedSamples:
    """Store samples; a text already stored (by SHA-256) with the same label is skipped, so
    re-adding is safe.

    Conflicting labels are never resolved silently: the same text with two labels in
    `samples` is an error, and so is a text stored with another label, unless
    `replace_labels`, which overwrites the stored label (and counts the sample as not yet
    used in training again, since the serving model learned the old label). Nothing is
    stored when an error is raised."""
    if not source.strip() or len(source) > MAX_SOURCE:
        raise SentimentDataError(
            f"source: {_shown(source)} must hold 1 to {MAX_SOURCE} characters, not only "
            "whitespace"
        )
    for index, text in enumerate(samples.texts):
        problem = storage_problem(text)
        if problem is not None:
            raise SampleTextError(index, text, problem)
    first: dict[str, tuple[str, str]] = {}
    labels_of: dict[str, list[str]] = {}
    for text, label in zip(samples.texts, samples.labels, strict=True):
        digest = text_hash(text)
        first.setdefault(digest, (text, label))
        if label not in labels_of.setdefault(digest, []):
            labels_of[digest].append(label)
    in_input = [
        f"{_shown(first[d][0])} is labelled {' and '.join(labels)}"
        for d, labels in labels_of.items()
        if len(labels) > 1
    ]
    if in_input:
        raise LabelConflictError(
            f"conflicting labels for the same text within the input: {_listed(in_input)}; "
            "keep one label per text"
        )
    repeated = len(samples) - len(first)
    now = utcnow()
    # Counted, not taken from rowcount: PostgreSQL's batched executemany reports 0 rows.
    count = select(func.count()).select_from(LabelledSample)
    with session_scope(engine) as session:
        digests = list(first)
        stored: dict[str, tuple[int, str]] = {}
        for start in range(0, len(digests), LOOKUP_CHUNK):
            chunk = digests[start : start + LOOKUP_CHUNK]
            for row in session.execute(
                select(LabelledSample.id, LabelledSample.text_sha256, LabelledSample.label).where(
                    LabelledSample.text_sha256.in_(chunk)
                )
            ):
                stored[row.text_sha256] = (row.id, row.label)
        changed = {
            d: first[d][1] for d, (_, label) in stored.items() if first[d][1] != label
        }
        if changed and not replace_labels:
            raise LabelConflictError(
                "labels differ from the stored samples: "
                + _listed(
                    [
                        f"{_shown(first[d][0])} is stored as {stored[d][1]}, the input says "
                        f"{label}"
                        for d, label in changed.items()
                    ]
                )
                + "; to overwrite the stored labels, use `musktracker sentiment add-samples "
                "--replace-labels`"
            )
        for digest, label in changed.items():
            session.execute(
                update(LabelledSample)
                .where(LabelledSample.id == stored[digest][0])
                .values(label=label, source=source, used_in_training=False)
            )
        rows = [
            {
                "text_sha256": digest,
                "text": text,
                "label": label,
                "source": source,
                "created_at": now,
            }
            for digest, (text, label) in first.items()
            if digest not in stored
        ]
        before = int(session.scalar(count) or 0)
        insert_ignoring_conflicts(session, LabelledSample, rows, ["text_sha256"])
        added = int(session.scalar(count) or 0) - before
    return AddedSamples(len(samples), added, len(changed), repeated)


def count_unused(engine: Engine) -> int:
    """Samples not yet used to train a model."""
    with session_scope(engine) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(LabelledSample)
                .where(LabelledSample.used_in_training.is_(False))
            )
            or 0
        )


def all_samples(engine: Engine) -> tuple[LabelledTexts, list[int]]:
    """Every stored sample (used or not) and their ids, oldest first."""
    with session_scope(engine) as session:
        rows = session.execute(
            select(LabelledSample.id, LabelledSample.text, LabelledSample.label).order_by(
                LabelledSample.id
            )
        ).all()
    return LabelledTexts([r.text for r in rows], [r.label for r in rows]), [r.id for r in rows]


def mark_used(engine: Engine, ids: list[int]) -> None:
    """Flag samples as used in training (once a challenger trained on them is promoted)."""
    if not ids:
        return
    with session_scope(engine) as session:
        session.execute(
            update(LabelledSample).where(LabelledSample.id.in_(ids)).values(used_in_training=True)
        )
