"""`musktracker x-emulator` as a user starts it: a process serving X API v2 on loopback."""

from __future__ import annotations

import socket
import subprocess
import sys

import httpx
import pytest
from typer.testing import CliRunner

from musktracker.cli.main import app
from tests.integration.ingest.conftest import REPO, Weeks


def _start(weeks: Weeks, *flags: str) -> tuple[subprocess.Popen[str], str]:
    """The emulator command serving the archive on a free port, and its base URL."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "musktracker.cli.x_emulator",
            "--archive",
            str(weeks.path),
            "--port",
            "0",
            *flags,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines = [process.stdout.readline() for _ in range(2)]
    assert f"@elonmusk ({len(weeks.posts)} posts)" in lines[0], process.stderr
    return process, lines[1].strip().removeprefix("X_API_BASE_URL=")


def test_x_emulator_command_serves_the_archive(weeks: Weeks) -> None:
    process, base_url = _start(weeks, "--token", "secret")
    try:
        ok = httpx.get(
            f"{base_url}/2/users/by/username/elonmusk",
            headers={"Authorization": "Bearer secret"},
        )
        assert ok.status_code == 200
        assert ok.json()["data"] == {"id": "44196397", "name": "elonmusk", "username": "elonmusk"}
        assert {"x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"} <= set(
            ok.headers
        )
        wrong = httpx.get(
            f"{base_url}/2/users/by/username/elonmusk", headers={"Authorization": "Bearer x"}
        )
        assert wrong.status_code == 401 and wrong.json()["title"] == "Unauthorized"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_x_emulator_refuses_a_missing_archive(tmp_path: object) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "musktracker.cli.x_emulator", "--archive", "/nonexistent.csv"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "/nonexistent.csv" in result.stderr and "no such file" in result.stderr


def test_x_emulator_flags_for_every_fault(weeks: Weeks) -> None:
    """Millisecond resets, protected timelines and a repeating next_token, which the
    ingestion tests inject, are reachable from the command line too."""
    process, base_url = _start(
        weeks,
        "--fail-429-every",
        "5",
        "--reset-in-ms",
        "--protected-timeline",
        "--repeat-next-token",
    )
    auth = {"Authorization": "Bearer any"}
    users = f"{base_url}/2/users/by/username/elonmusk"
    search = f"{base_url}/2/tweets/search/recent?query=from:elonmusk&max_results=10"
    try:
        user_id = httpx.get(users, headers=auth).json()["data"]["id"]  # call 1
        timeline = httpx.get(f"{base_url}/2/users/{user_id}/tweets", headers=auth)
        assert timeline.status_code == 200
        assert "errors" in timeline.json() and "data" not in timeline.json()
        token = httpx.get(search, headers=auth).json()["meta"]["next_token"]
        again = httpx.get(f"{search}&next_token={token}", headers=auth)
        assert again.json()["meta"]["next_token"] == token
        limited = httpx.get(users, headers=auth)  # call 5
        assert limited.status_code == 429
        assert int(limited.headers["x-rate-limit-reset"]) > 10**12  # milliseconds
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--forbid", "bogus"], "--forbid 'bogus' is not an endpoint; one of users, timeline"),
        (["--now", "yesterday"], "--now 'yesterday' is not an ISO 8601 time"),
        (["--port", "70000"], "Invalid value for '--port'"),
        (["--fail-429-every", "-1"], "Invalid value for '--fail-429-every'"),
        (["--rate-window", "0"], "Invalid value for '--rate-window'"),
        (["--keepalive", "-1"], "Invalid value for '--keepalive'"),
    ],
)
def test_x_emulator_refuses_bad_options_in_one_line(
    weeks: Weeks, flags: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, ["x-emulator", "--archive", str(weeks.path), *flags])
    assert result.exit_code in (1, 2), result.output
    assert message in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output


def test_x_emulator_port_in_use_is_one_line(weeks: Weeks) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            app, ["x-emulator", "--archive", str(weeks.path), "--port", str(port)]
        )
    assert result.exit_code == 1
    assert f"--host 127.0.0.1 --port {port}: cannot listen there" in result.output
