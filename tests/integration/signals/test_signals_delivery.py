"""Delivery against real loopback receivers: retries, Retry-After, dead letters, crashes."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from itertools import pairwise
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.engine import Engine

from musktracker.db.models import PushOutbox
from musktracker.db.session import session_scope
from musktracker.signals import outbox
from musktracker.signals.dispatcher import Dispatcher
from musktracker.signals.notifiers.telegram import TelegramNotifier
from musktracker.signals.notifiers.webhook import SIGNATURE_HEADER, WebhookNotifier
from musktracker.signals.outbox import RetryPolicy
from tests.integration.signals.signals_servers import Reply, Request, http_server

SECRET = "test-secret"
REPO = Path(__file__).resolve().parents[3]


def queue(engine: Engine, channel: str, n: int) -> list[str]:
    keys = [f"test:event-{i}" for i in range(n)]
    with session_scope(engine) as session:
        outbox.enqueue(
            session, [(channel, k, {"event_key": k, "message": f"msg {k}"}) for k in keys]
        )
    return keys


def statuses(engine: Engine) -> dict[str, PushOutbox]:
    with session_scope(engine) as session:
        return {r.event_key: r for r in session.scalars(select(PushOutbox))}


def verify(request: Request) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, request.headers[SIGNATURE_HEADER])


def drain(dispatcher: Dispatcher, engine: Engine, deadline: float) -> None:
    while time.monotonic() < deadline:
        dispatcher.run_once()
        rows = statuses(engine).values()
        if all(r.status in ("done", "dlq") for r in rows):
            return
        time.sleep(0.1)


def test_webhook_500_then_429_then_200_delivers_each_once(engine: Engine) -> None:
    attempts: dict[str, list[float]] = defaultdict(list)

    def receiver(request: Request, _: int) -> Reply:
        key = request.headers["Idempotency-Key"]
        attempts[key].append(time.monotonic())
        n = len(attempts[key])
        if n <= 2:
            return Reply(500, {"error": "boom"})
        if n == 3:
            return Reply(429, {"error": "slow down"}, headers={"Retry-After": "2"})
        return Reply(200, {"ok": True})

    keys = queue(engine, "webhook", 3)
    with http_server(receiver) as (url, recorder), httpx.Client(timeout=5) as client:
        dispatcher = Dispatcher(
            engine,
            {"webhook": WebhookNotifier(client, url, SECRET)},
            RetryPolicy(max_attempts=8, backoff_base=0.1, backoff_max=600),
        )
        drain(dispatcher, engine, time.monotonic() + 30)
    rows = statuses(engine)
    assert {k: rows[k].status for k in keys} == {k: "done" for k in keys}
    assert all(rows[k].retry_count == 4 for k in keys)
    assert len(attempts) == 3 and all(len(v) == 4 for v in attempts.values())
    for times in attempts.values():
        assert times[3] - times[2] >= 1.9  # Retry-After: 2 was honoured
    assert all(verify(r) for r in recorder.requests)
    bodies = {json.loads(r.body)["event_key"] for r in recorder.requests}
    assert bodies == set(keys)


def test_4xx_goes_to_dead_letter_with_error_and_can_be_retried(engine: Engine) -> None:
    queue(engine, "webhook", 1)
    receiver = http_server(lambda r, i: Reply(422, {"error": "bad payload"}))
    with receiver as (url, recorder), httpx.Client(timeout=5) as client:
        notifier = WebhookNotifier(client, url, SECRET)
        Dispatcher(engine, {"webhook": notifier}, RetryPolicy()).run_once()
    (row,) = statuses(engine).values()
    assert row.status == "dlq" and row.retry_count == 1
    assert "HTTP 422" in (row.last_error or "") and "bad payload" in (row.last_error or "")
    assert len(recorder.requests) == 1
    with session_scope(engine) as session:
        assert outbox.retry(session, all_dlq=True) == 1
    (row,) = statuses(engine).values()
    assert row.status == "pending" and row.last_error


def test_telegram_429_waits_for_parameters_retry_after(engine: Engine) -> None:
    def bot_api(request: Request, index: int) -> Reply:
        if index == 0:
            return Reply(
                429,
                {
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests: retry after 1",
                    "parameters": {"retry_after": 1},
                },
            )
        return Reply(200, {"ok": True, "result": {"message_id": index}})

    queue(engine, "telegram", 2)
    with http_server(bot_api) as (url, recorder), httpx.Client(timeout=5) as client:
        notifier = TelegramNotifier(client, url, "123:ABC", "-10042", min_interval=0.5)
        dispatcher = Dispatcher(engine, {"telegram": notifier}, RetryPolicy(backoff_base=0.1))
        drain(dispatcher, engine, time.monotonic() + 20)
    assert all(r.status == "done" for r in statuses(engine).values())
    paths = {r.path for r in recorder.requests}
    assert paths == {"/bot123:ABC/sendMessage"}
    sent = [json.loads(r.body) for r in recorder.requests]
    assert all(m["chat_id"] == "-10042" and m["text"].startswith("msg ") for m in sent)
    assert len(recorder.requests) == 3
    times = [r.at for r in recorder.requests]
    assert all(b - a >= 0.45 for a, b in pairwise(times))  # per-chat pace


def test_killed_dispatcher_loses_nothing(engine: Engine, db_url: str, tmp_path: Path) -> None:
    """A dispatcher subprocess killed at random moments: every message arrives."""
    keys = queue(engine, "webhook", 12)
    rng = random.Random(6)
    received: dict[str, set[bytes]] = defaultdict(set)

    def receiver(request: Request, index: int) -> Reply:
        assert verify(request)
        received[request.headers["Idempotency-Key"]].add(request.body)
        if index % 5 == 4:
            return Reply(503, {"error": "flaky"}, delay=0.2)
        return Reply(200, {"ok": True}, delay=0.2)

    with http_server(receiver) as (url, recorder):
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "WEBHOOK_URL": url,
            "WEBHOOK_SECRET": SECRET,
            "OUTBOX_LEASE_SECONDS": "1",
            "OUTBOX_HTTP_TIMEOUT_SECONDS": "0.5",
            "OUTBOX_BACKOFF_BASE_SECONDS": "0.1",
            "TELEGRAM_BOT_TOKEN": "",
        }
        command = [sys.executable, "-m", "musktracker.cli.signals", "dispatch", "--poll", "0.1"]
        for _ in range(4):
            proc = subprocess.Popen(command, env=env, cwd=REPO, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(1.5, 3.0))  # start-up takes about a second
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        time.sleep(1.1)  # let the leases of rows it was sending run out
        # A last dispatcher drains what is left; a 503 in its pass schedules a retry, so
        # it runs until nothing is pending (bounded).
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            final = subprocess.run([*command[:-2], "--once"], env=env, cwd=REPO, timeout=120)
            assert final.returncode == 0
            if all(statuses(engine)[k].status == "done" for k in keys):
                break
            time.sleep(0.3)
    rows = statuses(engine)
    assert {k: rows[k].status for k in keys} == {k: "done" for k in keys}
    by_key = {outbox.idempotency_key("webhook", k): k for k in keys}
    assert set(received) == set(by_key)  # every message arrived, under its own key
    assert all(len(bodies) == 1 for bodies in received.values())  # repeats are identical
    sends = Counter(r.headers["Idempotency-Key"] for r in recorder.requests)
    assert max(sends.values()) > 1  # some messages were sent again, under the same key


def test_two_dispatchers_share_work_on_postgres(engine: Engine) -> None:
    """FOR UPDATE SKIP LOCKED: concurrent dispatchers never send the same row twice."""
    if engine.dialect.name != "postgresql":
        return  # SQLite has no row locks: one dispatcher per database (documented)
    keys = queue(engine, "webhook", 30)
    seen: list[str] = []

    def receiver(request: Request, _: int) -> Reply:
        seen.append(request.headers["Idempotency-Key"])
        return Reply(200, {"ok": True}, delay=0.02)

    with http_server(receiver) as (url, _), httpx.Client(timeout=5) as client:
        notifier = WebhookNotifier(client, url, SECRET)
        dispatchers = [
            Dispatcher(engine, {"webhook": notifier}, RetryPolicy(), batch_size=3) for _ in range(3)
        ]
        threads = [threading.Thread(target=d.run_once) for d in dispatchers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(seen) == sorted(outbox.idempotency_key("webhook", k) for k in keys)
    assert all(r.status == "done" for r in statuses(engine).values())


def test_sending_row_with_expired_lease_is_reclaimed(engine: Engine) -> None:
    """What a crash between send and mark leaves behind: a 'sending' row, retried later."""
    queue(engine, "webhook", 1)
    with session_scope(engine) as session:
        (claimed,) = outbox.claim_due(session, limit=5, lease_seconds=0.3)
    with session_scope(engine) as session:
        assert outbox.start_attempt(session, claimed, lease_seconds=0.3)  # then it died
    with session_scope(engine) as session:
        assert outbox.claim_due(session, limit=5, lease_seconds=0.3) == []  # lease holds
    time.sleep(0.4)
    receiver = http_server(lambda r, i: Reply(200, {"ok": True}))
    with receiver as (url, recorder), httpx.Client(timeout=5) as client:
        notifier = WebhookNotifier(client, url, SECRET)
        assert Dispatcher(engine, {"webhook": notifier}, RetryPolicy()).run_once() == 1
    (row,) = statuses(engine).values()
    assert row.status == "done" and row.retry_count == 2  # the lost attempt counts
    assert recorder.requests[0].headers["Idempotency-Key"] == claimed.idempotency_key


def test_row_that_never_gets_a_result_ends_in_dead_letter(engine: Engine) -> None:
    queue(engine, "webhook", 1)
    for _ in range(3):  # three dispatchers that died mid-send
        with session_scope(engine) as session:
            (claimed,) = outbox.claim_due(session, 5, lease_seconds=0, max_attempts=3)
            assert outbox.start_attempt(session, claimed, lease_seconds=0)
    with session_scope(engine) as session:
        assert outbox.claim_due(session, 5, lease_seconds=0, max_attempts=3) == []
    (row,) = statuses(engine).values()
    assert row.status == "dlq" and "no result recorded for 3 attempts" in (row.last_error or "")


def test_webhook_never_sends_non_finite_numbers() -> None:
    """`Infinity` is not JSON: such a payload is refused before sending, as a 400-class
    failure (dead letter with the reason), instead of reaching strict receivers."""
    receiver = http_server(lambda r, i: Reply(200, {"ok": True}))
    with receiver as (url, recorder), httpx.Client(timeout=5) as client:
        notifier = WebhookNotifier(client, url, SECRET)
        result = notifier.send({"score": float("inf"), "message": "Score inf"}, "key-1")
        assert not result.ok and result.status_code == 400
        assert "not JSON" in (result.error or "")
        assert recorder.requests == []
        assert notifier.send({"score": 8.0, "message": "Score 8"}, "key-2").ok
    assert json.loads(recorder.requests[0].body) == {"score": 8.0, "message": "Score 8"}


def test_bot_token_never_reaches_the_logs(engine: Engine, db_url: str) -> None:
    """A real `signals dispatch --once` process sending to a loopback Bot API with JSON
    logs: httpx's INFO line (the full URL, token included) used to reach stderr."""
    token = "123456:AAH-SuperSecretToken"
    queue(engine, "telegram", 2)
    bot_api = http_server(lambda r, i: Reply(200, {"ok": True, "result": {"message_id": i}}))
    with bot_api as (url, recorder):
        env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "TELEGRAM_BOT_TOKEN": token,
            "TELEGRAM_CHAT_ID": "42",
            "TELEGRAM_API_BASE_URL": url,
            "TELEGRAM_MIN_INTERVAL_SECONDS": "0",
            "WEBHOOK_URL": "",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
        }
        command = [sys.executable, "-m", "musktracker.cli.signals", "dispatch", "--once"]
        done = subprocess.run(
            command, env=env, cwd=REPO, capture_output=True, text=True, timeout=120
        )
    assert done.returncode == 0, done.stderr
    assert len(recorder.requests) == 2  # really sent, to the token's URL
    assert {r.path for r in recorder.requests} == {f"/bot{token}/sendMessage"}
    assert token not in done.stderr + done.stdout
    assert "SuperSecret" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines and all(json.loads(line)["event"] for line in lines)  # JSON lines only
    assert sum(json.loads(line)["event"] == "delivery attempt" for line in lines) == 2
