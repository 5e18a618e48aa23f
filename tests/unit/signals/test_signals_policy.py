from __future__ import annotations

from datetime import UTC, datetime, timedelta

from musktracker.signals.circuit import CircuitBreaker
from musktracker.signals.notifiers.base import DeliveryResult, parse_retry_after
from musktracker.signals.notifiers.webhook import sign
from musktracker.signals.outbox import RetryPolicy, idempotency_key
from musktracker.signals.providers.goplus import assess

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_retry_policy() -> None:
    policy = RetryPolicy(max_attempts=5, backoff_base=2, backoff_max=600)
    assert policy.decide(DeliveryResult(ok=True, status_code=200), 1, NOW) == ("done", NOW)
    status, due = policy.decide(DeliveryResult(ok=False, status_code=503), 3, NOW)
    assert status == "failed" and due == NOW + timedelta(seconds=8)
    status, due = policy.decide(DeliveryResult(ok=False, status_code=None), 1, NOW)
    assert status == "failed" and due == NOW + timedelta(seconds=2)
    status, due = policy.decide(DeliveryResult(ok=False, status_code=429, retry_after=7), 1, NOW)
    assert status == "failed" and due == NOW + timedelta(seconds=7)
    assert policy.decide(DeliveryResult(ok=False, status_code=404), 1, NOW)[0] == "dlq"
    assert policy.decide(DeliveryResult(ok=False, status_code=500), 5, NOW)[0] == "dlq"
    assert RetryPolicy(50, 5, 600).backoff(20) == 600


def test_retry_after_is_honoured_on_5xx_and_never_below_a_second() -> None:
    policy = RetryPolicy(max_attempts=5, backoff_base=2, backoff_max=600)
    waits = {
        (503, 120.0): 120,  # the receiver is down for two minutes: do not knock at 2, 4, 8 s
        (500, 30.0): 30,
        (429, 0.0): 2,  # "retry now" again and again spent every attempt in 0.1 s
        (429, 0.2): 2,
        (503, None): 2,
        (429, 5000.0): 600,
        (408, None): 2,  # Request Timeout is worth another try, not a dead letter
    }
    for (code, retry_after), wait in waits.items():
        result = DeliveryResult(ok=False, status_code=code, retry_after=retry_after)
        assert policy.decide(result, 1, NOW) == ("failed", NOW + timedelta(seconds=wait))
    for code in (404, 409, 410, 422):
        result = DeliveryResult(ok=False, status_code=code, retry_after=30)
        assert policy.decide(result, 1, NOW)[0] == "dlq"
    assert policy.asked_wait(DeliveryResult(ok=False, status_code=410, retry_after=30)) is None


def test_idempotency_key_is_stable_per_channel_and_event() -> None:
    assert idempotency_key("webhook", "e1") == idempotency_key("webhook", "e1")
    assert idempotency_key("webhook", "e1") != idempotency_key("telegram", "e1")
    assert sign(b"{}", "s").startswith("sha256=")


def test_retry_after_header_forms() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_circuit_breaker_opens_and_half_opens() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failures=2, cooldown=10, clock=lambda: now[0])
    breaker.record_failure()
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 11
    assert breaker.allow() and not breaker.allow()  # one trial call only
    breaker.record_failure()
    assert breaker.state == "open"
    now[0] = 22
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed"


def test_goplus_assessment() -> None:
    clean = {"is_honeypot": "0", "is_open_source": "1", "buy_tax": "0", "sell_tax": "0.01"}
    assert assess(clean)["goplus_risk"] == "green"
    assert assess({**clean, "is_mintable": "1"})["goplus_risk"] == "yellow"
    honeypot = assess({**clean, "is_honeypot": "1"})
    assert honeypot["goplus_risk"] == "red" and honeypot["goplus_is_honeypot"]
    assert assess({**clean, "sell_tax": "0.6"})["goplus_risk"] == "red"
