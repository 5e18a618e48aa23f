"""`train` and `forecast` killed or interrupted part-way, then run again: no worker process
outlives its parent, Ctrl-C and SIGTERM stop at once with one line, and a rerun neither
stores a run twice nor leaves an artifact file that no row names.

The CLI runs in a forked child (no interpreter start-up, as in the ingest crash test), in a
process group of its own, so a signal reaches it and its backtest workers as a terminal's
Ctrl-C would."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from musktracker.cli.main import app
from musktracker.config import get_settings
from musktracker.db.models import BacktestResult, Forecast, ModelMetadata
from musktracker.db.session import get_engine, session_scope

from .test_volume_cli import AS_OF, CHEAP

# Enough work to still be running when the signal comes: about a minute of fits.
SLOW_TRAIN = ["train", "--model", "sarimax,hawkes,negative_binomial", "--backtest-windows",
              "80", "--train-days", "20", "--as-of", AS_OF, "--workers", "2"]


def _fork_cli(args: list[str], log: Path, before: Callable[[], None] | None = None) -> int:
    """Run the CLI in a forked child with its stdout and stderr in `log`.{out,err}."""
    pid = os.fork()
    if pid == 0:  # child: its own process group, the real entry point, no pytest atexit
        code = 1
        try:
            os.setpgid(0, 0)
            for fd, suffix in ((1, ".out"), (2, ".err")):
                os.dup2(os.open(f"{log}{suffix}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
            sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - pytest replaced them
            sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
            get_settings.cache_clear()
            get_engine.cache_clear()
            if before is not None:
                before()
            app(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            os._exit(code)
    return pid


def _wait(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.killpg(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"the command did not stop within {timeout} s")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _workers_started(pid: int) -> list[int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        workers = _children(pid)
        if len(workers) >= 2:
            time.sleep(1.0)  # the workers are fitting windows now
            return workers
        time.sleep(0.05)
    raise AssertionError("the backtest's worker processes never started")


def _gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_running(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if _running(p)]


def _rows(engine: Engine, table: type) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sigkill_of_train_ends_its_worker_processes(imported: Engine, tmp_path: Path) -> None:
    """The workers fitted the remaining windows for a parent that was gone, then blocked on
    its pipe forever, holding the database file and the terminal's output open."""
    pid = _fork_cli(SLOW_TRAIN, tmp_path / "train")
    workers = _workers_started(pid)
    os.kill(pid, signal.SIGKILL)
    assert _wait(pid, 10) == -signal.SIGKILL
    assert _gone(workers, 5) == [], "backtest workers outlived their parent"
    assert _rows(imported, BacktestResult) == 0


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("sig", "group", "code", "said"),
    [(signal.SIGINT, True, 130, "interrupted (Ctrl-C)"),
     (signal.SIGTERM, False, 143, "interrupted (SIGTERM)")],
)
def test_ctrl_c_or_sigterm_stops_train_at_once_with_one_line(
    imported: Engine, tmp_path: Path, sig: signal.Signals, group: bool, code: int, said: str
) -> None:
    """Ctrl-C (to the whole process group, as a terminal sends it) waited for every queued
    window before exiting, silently, with 130; SIGTERM (to the parent, as `kill` sends it)
    killed the parent alone, with no word, and left its workers running."""
    pid = _fork_cli(SLOW_TRAIN, tmp_path / "train")
    workers = _workers_started(pid)
    sent = time.monotonic()
    os.killpg(pid, sig) if group else os.kill(pid, sig)
    assert _wait(pid, 30) == code
    assert time.monotonic() - sent < 8, "the command waited for the queued windows"
    assert _gone(workers, 5) == []
    err = (tmp_path / "train.err").read_text()
    assert said in err and "run the same command again" in err, err
    assert len(err.strip().splitlines()) == 1, err  # no traceback from any process
    assert _rows(imported, BacktestResult) == 0
    artifacts = tmp_path / "artifacts"
    assert not list(artifacts.rglob("*.pkl")) if artifacts.exists() else True


def test_train_killed_after_its_commit_is_not_stored_twice(
    imported: Engine, runner: CliRunner, tmp_path: Path
) -> None:
    """A kill after the commit (while drawing --report) left the run stored; running the
    same command again stored every window a second time, with a second set of fits."""
    args = ["train", "--model", CHEAP, "--backtest-windows", "3", "--train-days", "14",
            "--samples", "200", "--as-of", AS_OF, "--report", str(tmp_path / "r.png")]
    pid = _fork_cli(args, tmp_path / "train")
    deadline = time.monotonic() + 60
    while _rows(imported, BacktestResult) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    assert _wait(pid, 10) in (0, -signal.SIGKILL)
    assert _rows(imported, BacktestResult) == 6
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "this run was stored before" in " ".join(again.output.split())
    with session_scope(imported) as session:
        runs = session.scalar(select(func.count(func.distinct(BacktestResult.run_id))))
        named = {Path(p) for p in session.scalars(select(ModelMetadata.artifact_path)) if p}
    assert runs == 1 and _rows(imported, BacktestResult) == 6
    assert _rows(imported, ModelMetadata) == 2
    assert set((tmp_path / "artifacts").rglob("*.pkl")) == named  # no second set of fits
    assert (tmp_path / "r.png").stat().st_size > 10_000


def test_forecast_killed_before_its_commit_leaves_a_fit_the_rerun_uses(
    imported: Engine, runner: CliRunner, tmp_path: Path
) -> None:
    """The fit's file is saved before the rows are committed. A forecast killed in between
    left a file no row names, and each rerun saved another under a new random name."""
    args = ["forecast", "--model", "negative_binomial", "--as-of", AS_OF, "--samples", "100"]

    def die_before_storing() -> None:
        from musktracker.forecasting import service

        def kill(*_args: object) -> None:
            os.kill(os.getpid(), signal.SIGKILL)

        vars(service)["store_hourly"] = kill

    for _ in range(2):
        pid = _fork_cli(args, tmp_path / "forecast", before=die_before_storing)
        assert _wait(pid, 60) == -signal.SIGKILL
    (left,) = (tmp_path / "artifacts").rglob("*.pkl")
    assert _rows(imported, ModelMetadata) == 0 and _rows(imported, Forecast) == 0
    written = left.stat().st_mtime_ns
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    with session_scope(imported) as session:
        (row,) = session.scalars(select(ModelMetadata)).all()
    assert [left] == list((tmp_path / "artifacts").rglob("*.pkl"))
    assert row.artifact_path == str(left)
    assert left.stat().st_mtime_ns == written  # the leftover fit was used, not redone
    assert _rows(imported, Forecast) == 24
