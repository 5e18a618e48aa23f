"""Training checkpoints: a fine-tuning run that is killed resumes where it stopped.

The default fine-tuning takes 20-45 minutes on a 2-core CPU; losing it to a reboot, an
out-of-memory kill or Ctrl-C would cost all of it. Every few minutes the trainable weights,
the optimiser and schedule state, the step reached, the losses of the current epoch and
torch's random state (dropout) are written atomically, so the resumed run takes the same
steps with the same dropout masks and ends with the same weights as one that was never
stopped. A checkpoint belongs to one training (its fingerprint: the data, the base model and
every hyperparameter that changes the result) and is deleted when that training finishes.
The resumed training continues the killed one's MLflow run, so one run holds its whole
loss curve.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import structlog

from musktracker.sentiment.data import LabelledTexts

log = structlog.get_logger(__name__)

CHECKPOINT_SUFFIX = ".ckpt"


def fingerprint(train: LabelledTexts, config: Any) -> str:
    """What the training's result depends on: rows, labels, years and the configuration
    (torch threads aside: they change the speed, and a resumed run may use others)."""
    digest = hashlib.sha256()
    settings = {k: v for k, v in asdict(config).items() if k != "threads"}
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    for text, label, year in zip(train.texts, train.labels, train.year_of_each(), strict=True):
        digest.update(f"{label}\t{year}\t{text}\n".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


@dataclass
class Checkpointer:
    """Writes a training's state to `folder` every `every_seconds` of training."""

    folder: Path
    key: str
    every_seconds: float = 300.0
    run_id: str | None = None
    """The MLflow run the training logs to, saved so that a resumed run continues it."""
    _last: float = field(default_factory=time.monotonic)

    @property
    def path(self) -> Path:
        return self.folder / f"{self.key[:24]}{CHECKPOINT_SUFFIX}"

    @property
    def _run_file(self) -> Path:
        return self.path.with_suffix(".run")

    def saved_run_id(self) -> str | None:
        """The MLflow run of the saved state, read without loading the state."""
        if not self.path.is_file() or not self._run_file.is_file():
            return None
        return self._run_file.read_text(encoding="utf-8").strip() or None

    def load(self) -> dict[str, Any] | None:
        """The saved state of this training, or None when there is none."""
        if not self.path.is_file():
            return None
        import torch  # here: the classic model trains without torch installed

        state: dict[str, Any] = torch.load(self.path, map_location="cpu", weights_only=False)
        if state.get("key") != self.key:  # a prefix collision: not this training's
            return None
        log.info("sentiment.checkpoint_resumed", path=str(self.path), step=state["step"])
        return state

    def due(self) -> bool:
        return time.monotonic() - self._last >= self.every_seconds

    def save(self, state: dict[str, Any]) -> None:
        """Write atomically (a temporary file renamed over the old one), so a kill during
        the write leaves the previous checkpoint intact."""
        import torch

        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        torch.save({**state, "key": self.key}, partial)
        if self.run_id is not None:
            self._run_file.write_text(self.run_id, encoding="utf-8")
        os.replace(partial, self.path)
        self._last = time.monotonic()
        log.info("sentiment.checkpoint_saved", path=str(self.path), step=state["step"])

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
        self._run_file.unlink(missing_ok=True)
