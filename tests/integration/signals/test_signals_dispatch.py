"""The dispatcher against odd receivers and a second dispatcher: odd answers stay with their
row, a 429 holds the channel, a lease is per send, and `outbox retry` never resends."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from musktracker.cli.main import app
from musktracker.db.models import PushOutbox
from musktracker.db.session import session_scope
from musktracker.signals import outbox
from musktracker.signals.dispatcher import Dispatcher
from musktracker.signals.notifiers.base import DeliveryResult
from musktracker.signals.notifiers.telegram import TelegramNotifier
from musktracker.signals.notifiers.webhook import WebhookNotifier
from musktracker.signals.outbox import OutboxError, RetryPolicy
from musktracker.utc import utcnow
from tests.integration.signals.signals_servers import (
    TELEGRAM_MAX_TEXT,
    Reply,
    Request,
    http_server,
    telegram_bot_api,
)

TOKEN = "123:ABCSECRET"


def queue(engine: Engine, channel: str, payloads: list[dict[str, Any]]) -> list[str]:
    keys = [f"test:event-{i}" for i in range(len(payloads))]
    with session_scope(engine) as session:
        outbox.enqueue(session, [(channel, k, p) for k, p in zip(keys, payloads, strict=True)])
    return keys


def messages(n: int) -> list[dict[str, Any]]:
    return [{"message": f"msg {i}"} for i in range(n)]


def rows(engine: Engine) -> list[PushOutbox]:
    with session_scope(engine) as session:
        return list(session.scalars(select(PushOutbox).order_by(PushOutbox.id)))


def telegram(client: httpx.Client, url: str) -> TelegramNotifier:
    return TelegramNotifier(client, url, TOKEN, "42", min_interval=0)


def test_odd_telegram_answers_are_failures_of_their_own_row(engine: Engine) -> None:
    """A 200 whose body is a JSON list, a 429 whose `parameters` is a number, a body that
    is not JSON and `ok: false` each fail only their row, with the reason kept; the batch
    goes on and the last row is delivered. Before, `[]` crashed the dispatcher with every
    claimed row stuck in 'sending' and an attempt burnt on the rows never sent."""
    answers = [
        Reply(200, []),
        Reply(429, {"ok": False, "description": "Too Many Requests", "parameters": 5}),
        Reply(200, "not an object either"),
        Reply(200, {"ok": False, "description": "Bad Request: chat not found"}),
        Reply(200, {"ok": True, "result": {"message_id": 1}}),
    ]
    queue(engine, "telegram", messages(5))
    with http_server(lambda r, i: answers[i]) as (url, recorder), httpx.Client() as client:
        dispatcher = Dispatcher(engine, {"telegram": telegram(client, url)}, RetryPolicy())
        assert dispatcher.run_once() == 5
    assert len(recorder.requests) == 5
    found = rows(engine)
    assert [r.status for r in found] == ["failed", "failed", "failed", "failed", "done"]
    assert all(r.retry_count == 1 for r in found)
    assert found[0].last_error == "HTTP 200: []"
    assert found[1].last_error == "HTTP 429: Too Many Requests"
    assert found[3].last_error == "HTTP 200: Bad Request: chat not found"
    assert found[4].last_error is None


def test_overlong_telegram_message_is_cut_to_fit_not_dead_lettered(engine: Engine) -> None:
    """A post's 5,000-character URL made a message Telegram refuses for good (400)."""
    head = "Post by @someone: 🚀 to the moon\nScore 12 (risk unknown): Liquidity >= $50K"
    long_url = "https://example.com/" + "a" * 5000
    queue(engine, "telegram", [{"message": f"{head}\n{long_url}"}, {"message": "🚀" * 3000}])
    with http_server(telegram_bot_api) as (url, recorder), httpx.Client(timeout=5) as client:
        Dispatcher(engine, {"telegram": telegram(client, url)}, RetryPolicy()).run_once()
    assert [(r.status, r.last_error) for r in rows(engine)] == [("done", None)] * 2
    texts = [json.loads(r.body)["text"] for r in recorder.requests]
    assert len(texts) == 2
    assert texts[0].startswith(f"{head}\nhttps://example.com/aaa") and texts[0].endswith("a…")
    assert len(texts[0].encode("utf-16-le")) == 2 * TELEGRAM_MAX_TEXT  # the 🚀 counts twice
    assert texts[1] == "🚀" * 2047 + "…"  # two code units each: 4,094 + 1


def test_unexpected_exception_is_recorded_against_its_row(engine: Engine) -> None:
    """A payload the channel cannot handle (no `message`: KeyError inside send) fails that
    row with the exception as its last error; the rows after it are still delivered."""
    queue(engine, "telegram", [{"message": "a"}, {"text": "no message key"}, {"message": "c"}])
    ok = Reply(200, {"ok": True, "result": {"message_id": 1}})
    with http_server(lambda r, i: ok) as (url, recorder), httpx.Client() as client:
        dispatcher = Dispatcher(engine, {"telegram": telegram(client, url)}, RetryPolicy())
        assert dispatcher.run_once() == 3
    assert len(recorder.requests) == 2
    first, bad, last = rows(engine)
    assert (first.status, last.status) == ("done", "done")
    assert bad.status == "failed" and bad.retry_count == 1
    assert bad.last_error == "unexpected KeyError: 'message'"


def test_telegram_429_holds_the_chat_and_requeues_without_attempts(engine: Engine) -> None:
    """Flood control: after a 429 with `retry_after: 1` the batch's other rows are not sent
    1 s apart into more 429s; they are given back, due when the wait ends, attempts unused."""
    start = time.monotonic()

    def bot_api(request: Request, index: int) -> Reply:
        if time.monotonic() - start < 1.0:
            return Reply(429, {"ok": False, "parameters": {"retry_after": 1}})
        return Reply(200, {"ok": True, "result": {"message_id": index}})

    keys = queue(engine, "telegram", messages(4))
    with http_server(bot_api) as (url, recorder), httpx.Client() as client:
        dispatcher = Dispatcher(engine, {"telegram": telegram(client, url)}, RetryPolicy())
        assert dispatcher.run_once() == 1
        assert len(recorder.requests) == 1
        held = rows(engine)
        assert [(r.status, r.retry_count) for r in held] == [
            ("failed", 1), ("pending", 0), ("pending", 0), ("pending", 0)
        ]  # fmt: skip
        soon = utcnow() + timedelta(seconds=0.5)
        assert all(r.next_retry_at >= soon for r in held)
        time.sleep(1.1)
        assert dispatcher.run_once() == 4
    assert len(recorder.requests) == 5
    done = rows(engine)
    assert [r.event_key for r in done] == keys
    assert [(r.status, r.retry_count) for r in done] == [("done", 2)] + [("done", 1)] * 3
    assert all(r.last_error is None for r in done)  # the 429 is history once delivered


def test_webhook_503_retry_after_holds_the_channel_until_it_ends(engine: Engine) -> None:
    """A receiver down for maintenance says when to come back: the row waits that long
    (it was retried after the 5 s backoff, then 10, 20... and dead-lettered while the
    receiver was still down), and the batch's other rows wait too, attempts unused."""
    start = time.monotonic()

    def receiver(request: Request, _: int) -> Reply:
        if time.monotonic() - start < 1.5:
            return Reply(503, {"error": "maintenance"}, headers={"Retry-After": "2"})
        return Reply(200, {"ok": True})

    queue(engine, "webhook", messages(3))
    policy = RetryPolicy(max_attempts=3, backoff_base=0.1)
    with http_server(receiver) as (url, recorder), httpx.Client(timeout=5) as client:
        dispatcher = Dispatcher(engine, {"webhook": WebhookNotifier(client, url, None)}, policy)
        assert dispatcher.run_once() == 1
        first = rows(engine)
        assert [(r.status, r.retry_count) for r in first] == [
            ("failed", 1), ("pending", 0), ("pending", 0)
        ]  # fmt: skip
        assert all(r.next_retry_at >= utcnow() + timedelta(seconds=1.5) for r in first)
        assert dispatcher.run_once() == 0  # nothing is due before the wait ends
        time.sleep(2.1)
        assert dispatcher.run_once() == 3
    assert [(r.status, r.retry_count) for r in rows(engine)] == [("done", 2)] + [("done", 1)] * 2
    assert len(recorder.requests) == 4


def test_429_retry_after_zero_backs_off_instead_of_spending_every_attempt(
    engine: Engine,
) -> None:
    """`Retry-After: 0` made the row due at once: one pass sent it 8 times in 0.1 s and
    dead-lettered it. A wait under a second falls back to the backoff."""
    queue(engine, "webhook", messages(1))
    busy = Reply(429, {"error": "busy"}, headers={"Retry-After": "0"})
    with http_server(lambda r, i: busy) as (url, recorder), httpx.Client(timeout=5) as client:
        notifier = WebhookNotifier(client, url, None)
        assert Dispatcher(engine, {"webhook": notifier}, RetryPolicy()).run_once() == 1
    (row,) = rows(engine)
    assert (row.status, row.retry_count, len(recorder.requests)) == ("failed", 1, 1)
    assert row.next_retry_at >= utcnow() + timedelta(seconds=4)  # the 5 s backoff


def test_lease_is_per_send_so_a_second_dispatcher_never_resends(engine: Engine) -> None:
    """A slow receiver (0.3 s a request) and a batch lease of 0.5 s: by the time the first
    dispatcher reaches its later rows, a second one has reclaimed them. Each row is started
    by exactly one of them (a conditional UPDATE just before the send), so every message
    arrives once. Before, the rows past the lease were sent by both."""
    keys = queue(engine, "webhook", [{"n": i} for i in range(6)])
    received: list[str] = []

    def receiver(request: Request, _: int) -> Reply:
        received.append(request.headers["Idempotency-Key"])
        return Reply(200, {"ok": True}, delay=0.3)

    with http_server(receiver) as (url, _), httpx.Client(timeout=5) as client:
        notifier = WebhookNotifier(client, url, None)
        first, second = (
            Dispatcher(engine, {"webhook": notifier}, RetryPolicy(), lease_seconds=0.5)
            for _ in range(2)
        )
        thread = threading.Thread(target=first.run_once)
        thread.start()
        time.sleep(0.7)
        second.run_once()
        thread.join()
    assert Counter(received) == Counter(outbox.idempotency_key("webhook", k) for k in keys)
    assert [(r.status, r.retry_count) for r in rows(engine)] == [("done", 1)] * 6


def test_result_is_recorded_only_by_the_claim_holder(engine: Engine) -> None:
    """A send that outlived its lease: the row was reclaimed and started by another
    dispatcher, so the late result does not overwrite the new owner's row."""
    queue(engine, "webhook", messages(1))
    with session_scope(engine) as session:
        (slow,) = outbox.claim_due(session, 5, lease_seconds=0)
        assert outbox.start_attempt(session, slow, lease_seconds=0)
    with session_scope(engine) as session:
        (fresh,) = outbox.claim_due(session, 5, lease_seconds=60)
        assert fresh.attempt == 2 and outbox.start_attempt(session, fresh, lease_seconds=60)
        assert not outbox.start_attempt(session, slow, lease_seconds=60)
    with session_scope(engine) as session:
        late = DeliveryResult(ok=False, status_code=500, error="HTTP 500: late")
        assert outbox.record_attempt(session, slow, late, RetryPolicy()) is None
    (row,) = rows(engine)
    assert (row.status, row.retry_count, row.last_error) == ("sending", 2, None)
    with session_scope(engine) as session:
        ok = DeliveryResult(ok=True, status_code=200)
        assert outbox.record_attempt(session, fresh, ok, RetryPolicy()) == "done"


def test_retry_refuses_delivered_and_in_flight_rows(engine: Engine) -> None:
    queue(engine, "webhook", messages(3))
    with session_scope(engine) as session:
        claimed = outbox.claim_due(session, 5, lease_seconds=60)
        outbox.start_attempt(session, claimed[0], 60)
        outbox.record_attempt(session, claimed[0], DeliveryResult(ok=True), RetryPolicy())
        outbox.start_attempt(session, claimed[1], 60)
        bad = DeliveryResult(ok=False, status_code=400, error="HTTP 400: bad")
        outbox.record_attempt(session, claimed[1], bad, RetryPolicy())
    done, dlq, sending = rows(engine)
    assert (done.status, dlq.status, sending.status) == ("done", "dlq", "sending")
    for row, what in ((done, "is done (was delivered already)"), (sending, "is sending")):
        with session_scope(engine) as session, pytest.raises(OutboxError) as err:
            outbox.retry(session, row.id)
        assert f"outbox row {row.id} {what}" in str(err.value)
        assert "only dlq, failed or pending rows can be retried" in str(err.value)
    with session_scope(engine) as session:
        assert outbox.retry(session, dlq.id) == 1
    assert [r.status for r in rows(engine)] == ["done", "pending", "sending"]


def test_retry_and_dispatch_cli_refuse_bad_input(
    engine: Engine, cli_env: str, runner: CliRunner
) -> None:
    queue(engine, "webhook", messages(1))
    with session_scope(engine) as session:
        (claimed,) = outbox.claim_due(session, 5, lease_seconds=60)
        outbox.start_attempt(session, claimed, 60)
        outbox.record_attempt(session, claimed, DeliveryResult(ok=True), RetryPolicy())
    result = runner.invoke(app, ["signals", "outbox", "retry", str(claimed.id)])
    assert result.exit_code == 1
    assert result.output.startswith(f"error: outbox row {claimed.id} is done")
    assert rows(engine)[0].status == "done"
    for row_id in ("0", "999", str(2**63), "99999999999999999999"):  # the last two overflowed
        missing = runner.invoke(app, ["signals", "outbox", "retry", row_id])
        assert missing.exit_code == 1, missing.output
        assert missing.output == f"error: outbox row id {row_id} does not exist\n"
    for poll in ("0", "-1", "0.01"):
        busy = runner.invoke(app, ["signals", "dispatch", "--poll", poll])
        assert busy.exit_code == 2 and "--poll" in busy.output, busy.output
