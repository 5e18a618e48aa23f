"""`musktracker x-emulator` as a user starts it: a process serving X API v2 on loopback."""

from __future__ import annotations

import subprocess
import sys

import httpx

from tests.integration.ingest.conftest import REPO, Weeks


def test_x_emulator_command_serves_the_archive(weeks: Weeks) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "musktracker.cli.x_emulator",
            "--archive",
            str(weeks.path),
            "--port",
            "0",
            "--token",
            "secret",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(2)]
        assert f"@elonmusk ({len(weeks.posts)} posts)" in lines[0]
        base_url = lines[1].strip().removeprefix("X_API_BASE_URL=")
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
