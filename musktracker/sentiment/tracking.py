"""MLflow: where runs are logged and where registered versions and the `champion` alias live.

MLFLOW_TRACKING_URI may be any MLflow URI (http://..., sqlite:///..., postgresql://...). A
plain directory (the default `./mlruns`) becomes a SQLite store `<dir>/mlflow.db` with
artifacts in `<dir>/artifacts`: MLflow 3 refuses its old file store, and this keeps
everything in one local directory with no server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import mlflow
import structlog
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from musktracker.sentiment.data import SentimentDataError, first_line

log = structlog.get_logger(__name__)

EXPERIMENT = "musktracker-sentiment"
CHAMPION = "champion"
MODEL_ARTIFACT = "model"


@dataclass(frozen=True)
class TrackingTarget:
    """Where MLflow keeps runs and (for a local directory) artifacts."""

    uri: str
    artifact_location: str | None


def resolve_tracking(setting: str) -> TrackingTarget:
    """Turn MLFLOW_TRACKING_URI into an MLflow URI; a plain path means a local directory."""
    if "://" in setting or setting.startswith("sqlite:"):
        return TrackingTarget(setting, None)
    directory = Path(setting).expanduser().resolve()
    directory.mkdir(parents=True, exist_ok=True)
    return TrackingTarget(
        f"sqlite:///{directory / 'mlflow.db'}", (directory / "artifacts").as_uri()
    )


class Tracker:
    """One MLflow store and one registered model name."""

    def __init__(self, tracking_setting: str, model_name: str) -> None:
        target = resolve_tracking(tracking_setting)
        self.model_name = model_name
        self.uri = target.uri
        mlflow.set_tracking_uri(target.uri)
        mlflow.set_registry_uri(target.uri)
        self.client = MlflowClient(target.uri, target.uri)
        experiment = self.client.get_experiment_by_name(EXPERIMENT)
        self.experiment_id = (
            experiment.experiment_id
            if experiment is not None
            else self.client.create_experiment(
                EXPERIMENT, artifact_location=target.artifact_location
            )
        )

    @contextmanager
    def run(
        self, run_name: str, params: dict[str, Any], resume: str | None = None
    ) -> Iterator[str]:
        """An active MLflow run with `params` logged; yields its run id. `resume` names the
        run of a killed training to continue (its params are already logged); when it is
        gone, a new run starts. A SentimentDataError inside (bad input found late) deletes
        the run: it is not a failed training."""
        run_id: str | None = None
        try:
            with self._start(run_name, resume) as active:
                run_id = active.info.run_id
                if run_id != resume:
                    mlflow.log_params({k: str(v) for k, v in params.items()})
                yield run_id
        except SentimentDataError:
            if run_id is not None:
                self.client.delete_run(run_id)
            raise

    def _start(self, run_name: str, resume: str | None) -> mlflow.ActiveRun:
        if resume is not None:
            try:
                return mlflow.start_run(run_id=resume)
            except MlflowException:
                log.warning("sentiment.run_not_resumed", run_id=resume)
        return mlflow.start_run(experiment_id=self.experiment_id, run_name=run_name)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        mlflow.log_metrics(metrics, step=step)

    def log_file(self, path: Path, folder: str | None = None) -> None:
        mlflow.log_artifact(str(path), artifact_path=folder)

    def log_model_dir(self, directory: Path) -> str:
        """Log a saved model directory as the run's `model` artifact; return its URI."""
        mlflow.log_artifacts(str(directory), artifact_path=MODEL_ARTIFACT)
        return str(mlflow.get_artifact_uri(MODEL_ARTIFACT))

    def register(self, source: str, run_id: str, tags: dict[str, str]) -> ModelVersion:
        """A new registered version of the model pointing at `source`."""
        try:
            self.client.get_registered_model(self.model_name)
        except MlflowException:
            self.client.create_registered_model(self.model_name)
        return self.client.create_model_version(
            self.model_name, source=source, run_id=run_id, tags=tags
        )

    def versions(self) -> list[ModelVersion]:
        """Every registered version, oldest first."""
        found = self.client.search_model_versions(f"name = '{self.model_name}'")
        return sorted(found, key=lambda v: int(v.version))

    def version(self, version: int, what: str = "VERSION") -> ModelVersion:
        """A registered version; `what` names the argument or option it came from."""
        try:
            return self.client.get_model_version(self.model_name, str(version))
        except MlflowException:
            raise SentimentDataError(
                f"{what}: {version} is not a registered version of {self.model_name!r}"
            ) from None

    def champion(self) -> ModelVersion | None:
        """The version carrying the `champion` alias, if any."""
        try:
            return self.client.get_model_version_by_alias(self.model_name, CHAMPION)
        except MlflowException:
            return None

    def set_champion(self, version: int) -> ModelVersion:
        """Move the `champion` alias to `version`."""
        chosen = self.version(version)
        self.client.set_registered_model_alias(self.model_name, CHAMPION, chosen.version)
        return chosen

    def run_metrics(self, run_id: str) -> dict[str, float]:
        return dict(self.client.get_run(run_id).data.metrics)

    def run_params(self, run_id: str) -> dict[str, str]:
        return dict(self.client.get_run(run_id).data.params)

    def local_dir(self, version: ModelVersion) -> Path:
        """A local directory holding the version's model files (downloaded if remote).

        Files gone from the store (deleted, or a store copied without its artifacts) are a
        SentimentDataError naming the version and where they were looked for, so a command
        says which version cannot be read and the API answers 503, not 500."""
        try:
            return Path(mlflow.artifacts.download_artifacts(artifact_uri=version.source))
        except (MlflowException, OSError) as exc:
            raise SentimentDataError(
                f"version {version.version} of {self.model_name!r}: its model files cannot "
                f"be read from {version.source} ({first_line(exc)})"
            ) from None
