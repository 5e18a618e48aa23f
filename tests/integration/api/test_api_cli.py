"""`musktracker apikeys` and `musktracker serve` for real: keys made by the CLI open a real
uvicorn server on loopback; the migration adding api_keys runs up, down and up again."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from musktracker.cli.main import app
from musktracker.db import migrate
from musktracker.db.session import get_engine, session_scope


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_api_keys_migration_runs_up_down_up(db_url: str) -> None:
    migrate.upgrade(db_url, "0006_api")
    assert inspect(get_engine(db_url)).has_table("api_keys")
    migrate.downgrade(db_url, "0001")
    assert not inspect(get_engine(db_url)).has_table("api_keys")
    migrate.upgrade(db_url, "0006_api")
    assert inspect(get_engine(db_url)).has_table("api_keys")


def test_apikeys_cli_creates_lists_and_revokes(cli_env: str, runner: CliRunner) -> None:
    migrate.upgrade(cli_env)
    created = runner.invoke(app, ["apikeys", "create", "--name", "ops", "--scopes", "read,admin"])
    assert created.exit_code == 0, created.output
    key = created.output.strip().splitlines()[-1]
    assert key.startswith("mt_") and len(key) == 55
    listed = runner.invoke(app, ["apikeys", "list"])
    assert "ops" in listed.output and key not in listed.output
    duplicate = runner.invoke(app, ["apikeys", "create", "--name", "ops"])
    assert duplicate.exit_code == 1 and "already used" in duplicate.output
    bad_scope = runner.invoke(app, ["apikeys", "create", "--name", "x", "--scopes", "root"])
    assert bad_scope.exit_code == 1 and "'root' is not a scope" in bad_scope.output
    assert runner.invoke(app, ["apikeys", "revoke", "ops"]).exit_code == 0
    again = runner.invoke(app, ["apikeys", "revoke", "ops"])
    assert again.exit_code == 1 and "already revoked" in again.output
    missing = runner.invoke(app, ["apikeys", "revoke", "nobody"])
    assert missing.exit_code == 1 and "no API key" in missing.output


def test_apikeys_revoke_by_id_is_never_ambiguous(cli_env: str, runner: CliRunner) -> None:
    """`revoke 4` revoked whichever of key 4 and a key named '4' the database returned
    first, and an id beyond BIGINT crashed with an OverflowError or DataError."""
    migrate.upgrade(cli_env)
    digits = runner.invoke(app, ["apikeys", "create", "--name", "2"])
    assert digits.exit_code == 1
    assert "--name '2' must not be only digits" in " ".join(digits.output.split())
    for name in ("first", "second"):
        assert runner.invoke(app, ["apikeys", "create", "--name", name]).exit_code == 0
    with session_scope(get_engine(cli_env)) as session:  # named so before the rule
        first_id = session.scalar(text("SELECT id FROM api_keys WHERE name = 'first'"))
        session.execute(
            text("UPDATE api_keys SET name = :n WHERE name = 'second'"), {"n": str(first_id)}
        )
    revoked = runner.invoke(app, ["apikeys", "revoke", str(first_id)])  # digits: the id
    assert revoked.exit_code == 0 and "'first'" in revoked.output
    huge = runner.invoke(app, ["apikeys", "revoke", "99999999999999999999"])
    assert huge.exit_code == 1
    assert "no API key named or numbered '99999999999999999999'" in huge.output


def _serve(env: dict[str, str], *options: str) -> tuple[subprocess.Popen[bytes], str]:
    """`musktracker serve` on a free loopback port, and its base URL."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "musktracker.cli.serve", "--port", str(port), *options],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return server, f"http://127.0.0.1:{port}"


def _wait_until_healthy(base: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            assert httpx.get(f"{base}/healthz", timeout=1).json() == {"status": "ok"}
            return
        except httpx.TransportError:
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.2)


def _stop(server: subprocess.Popen[bytes]) -> str:
    """Stop the server as Ctrl-C does; its stderr."""
    server.send_signal(signal.SIGINT)
    _, err = server.communicate(timeout=30)
    return err.decode()


def test_serve_answers_on_loopback(cli_env: str, runner: CliRunner) -> None:
    migrate.upgrade(cli_env)
    created = runner.invoke(app, ["apikeys", "create", "--name", "web", "--scopes", "read"])
    key = created.output.strip().splitlines()[-1]
    env = {**os.environ, "DATABASE_URL": cli_env, "API_CACHE_TTL_SECONDS": "0"}
    env.pop("REDIS_URL", None)
    server, base = _serve(env)
    try:
        _wait_until_healthy(base, 30)
        assert httpx.get(f"{base}/v1/accounts").status_code == 401
        answer = httpx.get(f"{base}/v1/accounts", headers={"X-API-Key": key})
        assert answer.status_code == 200 and answer.json() == []
        assert answer.headers["x-request-id"]
        assert httpx.get(f"{base}/readyz").json()["status"] == "ready"
        assert "musktracker_http_requests_total" in httpx.get(f"{base}/metrics").text
    finally:
        err = _stop(server)
    assert "Traceback" not in err, err[-2000:]


def test_slow_starting_workers_are_not_killed_as_hung(cli_env: str, tmp_path: Path) -> None:
    """uvicorn's supervisor kills a worker that has not answered its health check within
    5 s by default; on a busy 2-core machine importing the app takes longer than that, and
    `serve --workers 2` never served. A sitecustomize that delays every spawned worker by
    7 s stands in for the busy machine."""
    migrate.upgrade(cli_env)
    slow = tmp_path / "slow_start"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text(
        "import sys, time\nif '--multiprocessing-fork' in sys.argv:\n    time.sleep(7)\n"
    )
    (tmp_path / "prometheus").mkdir()
    env = {
        **os.environ,
        "DATABASE_URL": cli_env,
        "PYTHONPATH": os.pathsep.join([str(slow), os.environ.get("PYTHONPATH", "")]),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
    }
    env.pop("REDIS_URL", None)
    server, base = _serve(env, "--workers", "2")
    try:
        _wait_until_healthy(base, 90)
    finally:
        err = _stop(server)
    assert "died" not in err and "Traceback" not in err, err[-2000:]
