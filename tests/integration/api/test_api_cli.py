"""`musktracker apikeys` and `musktracker serve` for real: keys made by the CLI open a real
uvicorn server on loopback; the migration adding api_keys runs up, down and up again."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
from sqlalchemy import inspect
from typer.testing import CliRunner

from musktracker.cli.main import app
from musktracker.db import migrate
from musktracker.db.session import get_engine


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


def test_serve_answers_on_loopback(cli_env: str, runner: CliRunner) -> None:
    migrate.upgrade(cli_env)
    created = runner.invoke(app, ["apikeys", "create", "--name", "web", "--scopes", "read"])
    key = created.output.strip().splitlines()[-1]
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": cli_env, "API_CACHE_TTL_SECONDS": "0"}
    env.pop("REDIS_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "musktracker.cli.serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                assert httpx.get(f"{base}/healthz", timeout=1).json() == {"status": "ok"}
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        assert httpx.get(f"{base}/v1/accounts").status_code == 401
        answer = httpx.get(f"{base}/v1/accounts", headers={"X-API-Key": key})
        assert answer.status_code == 200 and answer.json() == []
        assert answer.headers["x-request-id"]
        assert httpx.get(f"{base}/readyz").json()["status"] == "ready"
        assert "musktracker_http_requests_total" in httpx.get(f"{base}/metrics").text
    finally:
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=30)
    assert b"Traceback" not in err, err.decode()[-2000:]
