"""Batching must not change what the pipeline does: a stream of real tweets (with repeats,
near copies and repeated cashtags, inside one batch and across batches) run in batches of
40 stores the same events, signals, outbox rows and drops as the same stream one event at a
time, with dedup memory in the database and in Redis."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import redis
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from musktracker.db.models import DedupKey, PushOutbox, Signal, SignalEvent
from musktracker.db.session import session_scope
from musktracker.signals import fingerprint as fp
from musktracker.signals.dedup import DatabaseDedupStore, Deduplicator, DedupStore, RedisDedupStore
from musktracker.signals.event import RawEvent
from musktracker.signals.filter import FilterConfig
from musktracker.signals.pipeline import SignalPipeline
from musktracker.signals.rules import parse_rules
from musktracker.utc import utcnow
from tests.conftest import SHARED_DATA

# The channels an event passes only grow with its evidence (the sentiment rule moves the score
# but never across a threshold), so both ways must queue the same outbox rows.
RULES = """
- {name: token, condition: "cashtag_count > 0", score: 4, reason: names a token}
- {name: repeat, condition: "evidence_count >= 3", score: 2, reason: repeated}
- {name: positive, condition: "type == 'post' and sentiment >= 0.5", score: 1, reason: warm}
"""
T0 = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)


def real_tweets(n: int) -> list[tuple[str, str]]:
    """(id, text) of the first `n` SemEval training tweets."""
    path = SHARED_DATA / "sentiment" / "semeval_train.tsv"
    assert path.is_file(), f"shared data missing: {path}"
    rows = []
    with path.open(encoding="utf-8") as handle:
        next(handle)
        for line in handle:
            tweet_id, _, text, _ = line.rstrip("\n").split("\t")
            rows.append((tweet_id, text))
            if len(rows) == n:
                break
    return rows


def stream() -> list[RawEvent]:
    """160 real tweets plus repeats and copies placed to land inside and across batches."""
    tweets = real_tweets(160)
    items: list[tuple[str, str]] = []
    for i, (tweet_id, text) in enumerate(tweets):
        items.append((tweet_id, f"{text} $TSLA" if i % 9 == 0 else text))
        if i % 13 == 0:  # the same item again, in the same batch
            items.append((tweet_id, text))
        if i % 17 == 0:  # a near copy (same words, another link) in the same batch
            items.append((f"copy-{tweet_id}", f"{text} https://t.co/{i}"))
        if i % 23 == 0 and i > 40:  # a near copy of a tweet from an earlier batch
            old_id, old_text = tweets[i - 40]
            items.append((f"late-{old_id}", f"{old_text}!!"))
        if i % 31 == 0 and i > 40:  # an id seen in an earlier batch, with new words
            items.append((tweets[i - 35][0], "Entirely new words under an old id, sent again"))
    return [
        RawEvent(
            source="semeval",
            source_id=source_id,
            type="post",
            created_at=T0 + timedelta(seconds=n),
            account="bench",
            text=text,
            sentiment=0.8 if n % 3 == 0 else 0.0,
        )
        for n, (source_id, text) in enumerate(items)
    ]


def snapshot(engine: Engine) -> dict[str, Any]:
    """Everything the pipeline wrote, without the wall-clock times it stamps."""
    with session_scope(engine) as session:
        events = {
            e.event_key: (
                e.type,
                e.symbol,
                e.summary,
                e.evidence_count,
                [x["source_id"] for x in e.evidence],
                e.start_ts,
                e.last_ts,
            )
            for e in session.scalars(select(SignalEvent))
        }
        signals = {
            s.event_key: (s.state, s.score, s.risk_level, s.reasons, s.features_snapshot)
            for s in session.scalars(select(Signal))
        }
        outbox = sorted(
            (o.channel, o.event_key, o.idempotency_key, o.status)
            for o in session.scalars(select(PushOutbox))
        )
    return {"events": events, "signals": signals, "outbox": outbox}


def run(engine: Engine, store: DedupStore, batch: int) -> dict[str, Any]:
    with session_scope(engine) as session:
        for model in (PushOutbox, Signal, SignalEvent, DedupKey):
            session.execute(delete(model))
    pipe = SignalPipeline(
        engine,
        rules=lambda: parse_rules(RULES),
        filter_config=FilterConfig.from_strings("en", "", ""),
        dedup=Deduplicator(store),
        thresholds={"webhook": 4.0, "telegram": 6.0},
    )
    events = stream()
    dropped: Counter[str] = Counter()
    stored = queued = 0
    for i in range(0, len(events), batch):
        result = pipe.process(events[i : i + batch])
        dropped.update(result.dropped)
        stored += result.stored
        queued += result.outbox_rows
    return {"stored": stored, "queued": queued, "dropped": dict(dropped), **snapshot(engine)}


def _redis_store(client: redis.Redis, prefixes: list[str]) -> RedisDedupStore:
    prefixes.append(f"test:batching:{uuid.uuid4().hex[:8]}")
    return RedisDedupStore(client, prefix=prefixes[-1])


def test_batches_match_one_event_at_a_time_database_dedup(engine: Engine) -> None:
    one_by_one = run(engine, DatabaseDedupStore(), batch=1)
    batched = run(engine, DatabaseDedupStore(), batch=40)
    assert batched == one_by_one
    # The stream really exercises what it claims to.
    assert one_by_one["dropped"]["duplicate"] >= 20 and one_by_one["dropped"]["filtered"] > 0
    counts = [e[3] for e in one_by_one["events"].values()]
    assert max(counts) >= 3 and any(s[1] >= 6 for s in one_by_one["signals"].values())
    assert {channel for channel, *_ in one_by_one["outbox"]} == {"webhook", "telegram"}


def test_batches_match_one_event_at_a_time_redis_dedup(
    engine: Engine, redis_client: redis.Redis
) -> None:
    prefixes: list[str] = []
    try:
        one_by_one = run(engine, _redis_store(redis_client, prefixes), batch=1)
        batched = run(engine, _redis_store(redis_client, prefixes), batch=40)
        database = run(engine, DatabaseDedupStore(), batch=40)
    finally:
        for prefix in prefixes:
            for key in redis_client.scan_iter(f"{prefix}:*"):
                redis_client.delete(key)
    assert batched == one_by_one == database


def _one_band_match(print_: int) -> int:
    """`print_` with one bit flipped in each of bands 0, 1 and 2: distance 3, only band 3 equal."""
    return print_ ^ (1 << 5) ^ (1 << (fp.BAND_BITS + 7)) ^ (1 << (2 * fp.BAND_BITS + 9))


@pytest.mark.parametrize("kind", ["database", "redis"])
def test_stores_find_prints_sharing_any_single_band_and_forget_expired(
    engine: Engine, kind: str, request: pytest.FixtureRequest
) -> None:
    prefixes: list[str] = []
    store: DedupStore = (
        _redis_store(request.getfixturevalue("redis_client"), prefixes)
        if kind == "redis"
        else DatabaseDedupStore()
    )
    kept, expired = 0x0123_4567_89AB_CDEF, 0x7EDC_BA98_7654_3210
    try:
        with session_scope(engine) as session:
            store.remember(session, ["s:1"], [kept], utcnow() + timedelta(days=14))
            store.remember(session, ["s:2"], [expired], utcnow() + timedelta(seconds=1))
        store.after_commit()
        time.sleep(1.5)  # Redis TTLs count whole seconds
        with session_scope(engine) as session:
            assert store.seen_ids(session, ["s:1", "s:2", "s:3"]) == {"s:1"}
            for probe in (_one_band_match(kept), kept ^ (1 << 63)):
                found = store.fingerprints_in_bands(session, fp.bands(probe))
                assert set().union(*found.values()) == {kept}
                assert found == {b: {kept} for b in fp.bands(probe) if b in fp.bands(kept)}
            assert store.fingerprints_in_bands(session, fp.bands(expired)) == {}
            assert store.fingerprints_in_bands(session, []) == {}
    finally:
        if kind == "redis":
            client = request.getfixturevalue("redis_client")
            for key in client.scan_iter(f"{prefixes[0]}:*"):
                client.delete(key)
