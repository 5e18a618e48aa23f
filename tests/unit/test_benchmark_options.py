"""The benchmark scripts' shared conventions: --help states the defaults without running
anything, a bad option value is one error line naming the option, the machine line names the
CPU, and scratch databases never land in the working tree. Nothing here is timed."""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from benchmarks import import_pipeline
from benchmarks.common import (
    POSTGRES_URL,
    REPO,
    cpu_model,
    existing_tracker,
    machine,
    positive_int,
    postgres_schema,
    scratch_database,
)
from musktracker.db.session import get_engine
from tests.conftest import require_postgres

SCRIPTS = [
    "api_load",
    "backtest",
    "hawkes_fit",
    "import_pipeline",
    "ingest",
    "models_reference",
    "predictability",
    "sentiment",
    "sentiment_train_speed",
    "signals",
]


def run_main(script: str, argv: list[str]) -> int:
    """The exit code of the script's main with `argv`; it must stop in the parser."""
    module = importlib.import_module(f"benchmarks.{script}")
    with pytest.raises(SystemExit) as stop:
        module.main(argv)
    return int(stop.value.code or 0)


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_states_defaults_and_runs_nothing(
    script: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(script, ["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage:") and "(default:" in out


@pytest.mark.parametrize(
    ("script", "argv", "message"),
    [
        ("import_pipeline", ["--runs", "0"], "argument --runs: must be >= 1, got 0"),
        ("ingest", ["--days", "0"], "argument --days: must be >= 1, got 0"),
        ("ingest", ["--posts", "/no/such/posts.csv"], "argument --posts: no such file"),
        ("import_pipeline", ["--posts", "/no/such/posts.csv"], "argument --posts: no such file"),
        ("hawkes_fit", ["--posts", "/no/such/posts.csv"], "argument --posts: no such file"),
        ("models_reference", ["--posts", "/no/such/posts.csv"], "argument --posts: no such file"),
        ("backtest", ["--posts", "/no/such/posts.csv"], "argument --posts: no such file"),
        ("predictability", ["--posts", "/no/such/posts.csv"], "argument --posts: no such file"),
        ("predictability", ["--days-apart", "0"], "argument --days-apart: must be >= 1, got 0"),
        ("signals", ["--events", "0"], "argument --events: must be >= 1, got 0"),
        ("signals", ["--batch", "0"], "argument --batch: must be >= 1, got 0"),
        ("signals", ["--interval", "-1"], "argument --interval: must be >= 0, got -1"),
        ("api_load", ["--concurrency", "0"], "argument --concurrency: must be >= 1, got 0"),
        ("api_load", ["--requests", "3"], "argument --requests: 3 is below --concurrency 16"),
        ("api_load", ["--log-level", "LOUD"], "argument --log-level: invalid choice: 'LOUD'"),
    ],
)
def test_bad_values_are_one_line_naming_the_option(
    script: str, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(script, argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("script", ["api_load", "predictability", "signals"])
def test_runs_as_a_file_as_the_docs_say(script: str) -> None:
    """README runs api_load and signals as `python benchmarks/NAME.py`, where `benchmarks` is
    not importable unless the script puts the repository on the path (predictability never
    ran that way). The other scripts are checked for the same line below, without the
    seconds each subprocess spends importing."""
    done = subprocess.run(
        [sys.executable, f"benchmarks/{script}.py", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:")


def test_a_missing_mlflow_folder_is_reported_not_created(tmp_path: Path) -> None:
    assert existing_tracker(str(tmp_path / "mlruns"), "m") is None
    assert not (tmp_path / "mlruns").exists()


def test_every_script_puts_the_repository_on_the_path_before_importing_benchmarks() -> None:
    line = "sys.path.insert(0, str(Path(__file__).resolve().parents[1]))"
    found = {path.stem for path in (REPO / "benchmarks").glob("*.py")}
    assert found - {"__init__", "common"} == set(SCRIPTS)  # a new script is checked too
    for script in SCRIPTS:
        source = (REPO / "benchmarks" / f"{script}.py").read_text()
        assert -1 < source.find(line) < source.find("\nfrom benchmarks"), script


def test_positive_int_refuses_zero_negatives_and_words() -> None:
    assert positive_int("2") == 2
    for bad in ("0", "-1", "abc"):
        with pytest.raises(argparse.ArgumentTypeError):
            positive_int(bad)


def test_machine_line_names_the_cpu_and_cores(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: avx2\n")
    assert cpu_model(cpuinfo) == "AMD EPYC 7B13"
    assert cpu_model(tmp_path / "missing")  # falls back to what platform knows
    line = machine()
    assert f"{cpu_model()}, {os.cpu_count()} cores" in line and "load average" in line


def test_scratch_sqlite_lives_outside_the_working_tree_and_goes_away() -> None:
    with scratch_database("SQLite", POSTGRES_URL) as url:
        assert url is not None
        path = Path(url.removeprefix("sqlite:///"))
        with get_engine(url).begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        assert path.is_file() and not path.is_relative_to(Path.cwd())
    assert not path.exists()


def test_unreachable_postgres_is_skipped_with_the_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with scratch_database("PostgreSQL", "postgresql+psycopg://x:y@127.0.0.1:1/none") as url:
        assert url is None
    assert capsys.readouterr().err.startswith("PostgreSQL skipped: OperationalError")


def test_postgres_schema_keeps_the_url_query() -> None:
    require_postgres()
    with postgres_schema(f"{POSTGRES_URL}?connect_timeout=10") as url:
        assert url.count("?") == 1
        with get_engine(url).connect() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar()
    assert url.endswith(f"search_path%3D{schema}")


def test_import_pipeline_counts_what_the_docs_quote(posts_sample: Path) -> None:
    """ARCHITECTURE.md quotes the buckets and feature rows of the import: the run prints them."""
    with scratch_database("SQLite", POSTGRES_URL) as url:
        assert url is not None
        timings, rows = import_pipeline.run_once(url, posts_sample)
    assert set(timings) == set(import_pipeline.STAGES)
    assert rows["hourly buckets"] > rows["daily buckets"] > 0 and rows["feature rows"] > 0


def test_a_server_that_does_not_start_says_why(tmp_path: Path) -> None:
    """api_load used to discard the server's output and say only that it did not start."""
    from benchmarks.api_load import serve

    missing = tmp_path / "missing.db"
    with pytest.raises(RuntimeError) as failed:
        serve(f"sqlite:///{missing}", port=1, workers=1, cache_ttl=0.0, log_level="WARNING")
    message = str(failed.value)
    assert message.startswith("musktracker serve did not start on port 1 (exit status 1)")
    assert str(missing) in message  # the server's own one-line reason
