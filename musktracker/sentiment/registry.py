"""The `sentiment_models` table: a mirror of MLflow's registered versions with their dev
metrics and status (`champion` for the version holding the alias, else `available`).

MLflow stays the source of truth; `sync_versions` refreshes the mirror after every
training or promotion and before listing, so runs registered elsewhere show up too and
versions deleted from MLflow (a deleted champion included) disappear from it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from musktracker.db.dialect import upsert
from musktracker.db.models import SENTIMENT_CHAMPION_STATUS, SentimentModelVersion
from musktracker.db.session import session_scope
from musktracker.sentiment.artifact import load_version
from musktracker.sentiment.data import SentimentDataError
from musktracker.sentiment.tracking import Tracker

CHAMPION_STATUS = SENTIMENT_CHAMPION_STATUS
AVAILABLE_STATUS = "available"
_MIRRORED = (
    "run_id",
    "kind",
    "base_model",
    "dev_macro_recall",
    "dev_accuracy",
    "dev_macro_f1",
    "train_seconds",
    "n_train",
    "status",
)


def sync_versions(engine: Engine, tracker: Tracker) -> list[SentimentModelVersion]:
    """Upsert every registered version into `sentiment_models` and delete the rows of
    versions MLflow no longer has, in one transaction; return them, oldest first."""
    champion = tracker.champion()
    champion_version = int(champion.version) if champion is not None else None
    rows = []
    for version in tracker.versions():
        number = int(version.version)
        metrics = tracker.run_metrics(version.run_id) if version.run_id else {}
        params = tracker.run_params(version.run_id) if version.run_id else {}
        rows.append(
            {
                "model_name": tracker.model_name,
                "version": number,
                "run_id": version.run_id or "",
                "kind": version.tags.get("kind", params.get("kind", "unknown")),
                "base_model": version.tags.get("base_model", params.get("base_model", "")),
                "dev_macro_recall": metrics.get("final_dev_macro_recall"),
                "dev_accuracy": metrics.get("final_dev_accuracy"),
                "dev_macro_f1": metrics.get("final_dev_macro_f1"),
                "train_seconds": metrics.get("train_seconds"),
                "n_train": int(params["n_train"]) if "n_train" in params else None,
                "status": CHAMPION_STATUS if number == champion_version else AVAILABLE_STATUS,
                "created_at": datetime.fromtimestamp(version.creation_timestamp / 1000, UTC),
            }
        )
    with session_scope(engine) as session:
        gone = delete(SentimentModelVersion).where(
            SentimentModelVersion.model_name == tracker.model_name
        )
        if rows:
            gone = gone.where(SentimentModelVersion.version.not_in([r["version"] for r in rows]))
        session.execute(gone)
        upsert(session, SentimentModelVersion, rows, ["model_name", "version"], _MIRRORED)
    return list_versions(engine, tracker.model_name)


def list_versions(engine: Engine, model_name: str) -> list[SentimentModelVersion]:
    """Mirrored versions of `model_name`, oldest first."""
    with session_scope(engine) as session:
        found = session.scalars(
            select(SentimentModelVersion)
            .where(SentimentModelVersion.model_name == model_name)
            .order_by(SentimentModelVersion.version)
        ).all()
        session.expunge_all()
        return list(found)


def promote(engine: Engine, tracker: Tracker, version: int) -> list[SentimentModelVersion]:
    """Move the `champion` alias to `version` and refresh the mirror.

    The version is loaded first: a champion whose files are gone from the MLflow store
    would make every process that serves switch to a model it cannot load. Then nothing
    moves and the error names the version."""
    chosen = tracker.version(version)
    try:
        load_version(tracker.local_dir(chosen), chosen.version)
    except ImportError:
        pass  # a transformer where torch is missing: predictors serve a classic fallback
    except SentimentDataError as exc:
        raise SentimentDataError(f"VERSION: {exc}; the champion alias did not move") from None
    tracker.set_champion(version)
    return sync_versions(engine, tracker)
