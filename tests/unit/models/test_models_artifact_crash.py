"""A process SIGKILLed while saving a model artifact must leave the previous file whole.

`save` wrote straight into the artifact: a kill mid-write left a truncated pickle behind the
model_metadata rows naming it (a rerun of `train` as of the same moment, the weekly
training, a forecast request), and every forecast loading it then failed."""

from __future__ import annotations

import os
import pickle
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from musktracker.atomicfile import STALE_SECONDS, partial_files
from musktracker.models.base import History
from musktracker.models.registry import create_model, load_model


class _KillsWhilePickled:
    """Pickling this SIGKILLs the process: the kill lands after megabytes were written."""

    def __reduce__(self) -> tuple[object, ...]:
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")


def _save_and_die(path: Path, history: History) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            model = create_model("hour_of_day_mean").fit(history)
            model.state_ = {"ballast": b"x" * 8_000_000, "killer": _KillsWhilePickled()}
            model.save(path)
        finally:
            os._exit(1)  # not reached: the kill comes first
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_sigkill_while_saving_keeps_the_previous_artifact(
    history_30d: History, tmp_path: Path
) -> None:
    path = tmp_path / "1" / "hour_of_day_mean.pkl"
    good = create_model("hour_of_day_mean").fit(history_30d)
    good.save(path)
    before = path.read_bytes()
    assert _save_and_die(path, history_30d) == -signal.SIGKILL
    assert path.read_bytes() == before  # untouched, not truncated
    loaded = load_model("hour_of_day_mean", path)
    assert np.array_equal(loaded.predict(24, 100, seed=1).samples,
                          good.predict(24, 100, seed=1).samples)
    (left,) = partial_files(path)  # the half-written temporary file, next to it
    assert left.stat().st_size >= 8_000_000 and not left.name.endswith(".pkl")
    # a later save removes what a kill left, once it is too old to be a write in progress
    good.save(path)
    assert partial_files(path) == [left]
    old = time.time() - STALE_SECONDS - 60
    os.utime(left, (old, old))
    good.save(path)
    assert partial_files(path) == []
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_a_failed_save_leaves_no_file(history_30d: History, tmp_path: Path) -> None:
    path = tmp_path / "m.pkl"
    model = create_model("hour_of_day_mean").fit(history_30d)
    model.state_ = {"unpicklable": lambda: None}
    with pytest.raises((AttributeError, pickle.PicklingError)):  # pickle refuses a lambda
        model.save(path)
    assert list(tmp_path.iterdir()) == []
