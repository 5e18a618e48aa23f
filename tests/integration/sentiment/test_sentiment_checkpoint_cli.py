"""`musktracker sentiment train` killed with SIGKILL part way: run again, it resumes from its
checkpoint and registers the same model a run that was never stopped registers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mlflow.entities.model_registry import ModelVersion

from musktracker.config import get_settings
from musktracker.db import migrate
from musktracker.sentiment.tracking import Tracker

REPO = Path(__file__).resolve().parents[3]


def _train(env: dict[str, str], checkpoints: Path, base: Path) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "musktracker.cli.sentiment",
        "train",
        "--base-model",
        str(base),
        "--max-train",
        "300",
        "--batch-size",
        "2",
        "--layers",
        "1",
    ]
    return subprocess.Popen(
        command,
        cwd=REPO,
        env={
            **env,
            "SENTIMENT_CHECKPOINT_DIR": str(checkpoints),
            "SENTIMENT_CHECKPOINT_MINUTES": "0.0001",  # after nearly every step
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _version(tracker: Tracker, number: int) -> ModelVersion:
    return next(v for v in tracker.versions() if int(v.version) == number)


def _weights(tracker: Tracker, version: int) -> bytes:
    return (tracker.local_dir(_version(tracker, version)) / "model.safetensors").read_bytes()


def test_a_killed_training_resumes_and_registers_the_same_model(
    tmp_path: Path, small_train: Path, small_dev: Path, tiny_base_model: Path
) -> None:
    """One SQLite database: the database plays no part in checkpoints."""
    database = f"sqlite:///{tmp_path / 'mt.db'}"
    migrate.upgrade(database)
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "MLFLOW_TRACKING_URI": str(tmp_path / "mlruns"),
        "SENTIMENT_TRAIN_FILE": str(small_train),
        "SENTIMENT_DEV_FILE": str(small_dev),
        "COLUMNS": "120",
    }
    env.pop("REDIS_URL", None)
    checkpoints = tmp_path / "checkpoints"
    killed = _train(env, checkpoints, tiny_base_model)
    deadline = time.monotonic() + 120
    while not list(checkpoints.glob("*.ckpt")) and time.monotonic() < deadline:
        assert killed.poll() is None, killed.communicate()[0]  # finished before a checkpoint
        time.sleep(0.02)
    time.sleep(0.5)  # a few more steps
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    assert list(checkpoints.glob("*.ckpt")), "no checkpoint was written before the kill"

    resumed_out, _ = _train(env, checkpoints, tiny_base_model).communicate(timeout=300)
    assert "sentiment.checkpoint_resumed" in resumed_out, resumed_out
    assert "registered version 1 (run" in resumed_out, resumed_out
    assert not list(checkpoints.glob("*")), "the checkpoint outlived its finished run"

    whole_out, _ = _train(env, tmp_path / "other", tiny_base_model).communicate(timeout=300)
    assert "sentiment.checkpoint_resumed" not in whole_out, whole_out
    tracker = Tracker(str(tmp_path / "mlruns"), get_settings().sentiment_model_name)
    assert _weights(tracker, 1) == _weights(tracker, 2)
    # The resumed training continued the killed one's MLflow run (no third run left
    # RUNNING forever): two runs, both finished.
    runs = tracker.client.search_runs([tracker.experiment_id])
    assert sorted(run.info.status for run in runs) == ["FINISHED", "FINISHED"]
    assert {run.info.run_id for run in runs} == {_version(tracker, n).run_id for n in (1, 2)}
