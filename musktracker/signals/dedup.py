"""Dedup stage: drop an item seen before (same source id) or a near copy of a recent text.

Memory lasts `SIGNALS_DEDUP_DAYS` (14 by default). With `REDIS_URL` it lives in Redis keys
with a TTL; without, in the `signal_dedup_keys` table, written in the same transaction as
the events so a failed batch forgets what it saw. Redis keys are written only after the
batch committed, for the same reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

import redis
from sqlalchemy import delete, literal, select, union_all
from sqlalchemy.orm import Session

from musktracker.db.dialect import insert_ignoring_conflicts
from musktracker.db.models import DedupKey
from musktracker.signals import fingerprint as fp
from musktracker.signals.event import PipelineEvent
from musktracker.utc import utcnow

ID_KIND = "id"
TEXT_KIND = "text"


class DedupStore(Protocol):
    """Where seen ids and fingerprint bands are remembered."""

    def seen_ids(self, session: Session, ids: Sequence[str]) -> set[str]: ...

    def fingerprints_in_bands(
        self, session: Session, band_keys: Sequence[str]
    ) -> dict[str, set[int]]: ...

    def remember(
        self, session: Session, ids: Sequence[str], prints: Sequence[int], expires_at: datetime
    ) -> None:
        """Called inside the batch's transaction."""

    def after_commit(self) -> None:
        """Called once the batch's transaction committed."""


def _dedup_row(
    kind: str, key: str, bands: tuple[str | None, ...], expires_at: datetime
) -> dict[str, object]:
    band_0, band_1, band_2, band_3 = bands
    return {
        "kind": kind,
        "key": key,
        "band_0": band_0,
        "band_1": band_1,
        "band_2": band_2,
        "band_3": band_3,
        "expires_at": expires_at,
    }


class DatabaseDedupStore:
    """Dedup memory in the `signal_dedup_keys` table: a row per id, a row per fingerprint."""

    def __init__(self) -> None:
        self._last_purge: datetime | None = None

    def seen_ids(self, session: Session, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        rows = session.scalars(
            select(DedupKey.key).where(
                DedupKey.kind == ID_KIND, DedupKey.key.in_(ids), DedupKey.expires_at > utcnow()
            )
        )
        return set(rows)

    def fingerprints_in_bands(
        self, session: Session, band_keys: Sequence[str]
    ) -> dict[str, set[int]]:
        wanted: dict[int, set[str]] = {}
        for band_key in band_keys:
            index, value = band_key.split(":")
            wanted.setdefault(int(index), set()).add(value)
        found: dict[str, set[int]] = {}
        if not wanted:
            return found
        columns = [DedupKey.band_0, DedupKey.band_1, DedupKey.band_2, DedupKey.band_3]
        now = utcnow()
        # One SELECT per band so each reads its own band index. Only fingerprint rows have
        # bands (id rows leave them NULL, which no IN matches), so there is no kind filter,
        # and there must not be: with `kind = 'text'` SQLite walks the (kind, key) index
        # through every stored fingerprint instead.
        parts = [
            select(literal(position), DedupKey.key, columns[position]).where(
                columns[position].in_(values), DedupKey.expires_at > now
            )
            for position, values in wanted.items()
        ]
        for position, key, band in session.execute(union_all(*parts)):
            found.setdefault(f"{position}:{band}", set()).add(int(key, 16))
        return found

    def remember(
        self, session: Session, ids: Sequence[str], prints: Sequence[int], expires_at: datetime
    ) -> None:
        rows = [_dedup_row(ID_KIND, i, (None, None, None, None), expires_at) for i in ids]
        rows += [_dedup_row(TEXT_KIND, f"{p:016x}", fp.band_values(p), expires_at) for p in prints]
        # A key stored before (an expired row not yet purged) keeps its row.
        insert_ignoring_conflicts(session, DedupKey, rows, ["kind", "key"])
        self._purge_expired(session)

    def _purge_expired(self, session: Session) -> None:
        now = utcnow()
        if self._last_purge is None or now - self._last_purge > timedelta(hours=1):
            session.execute(delete(DedupKey).where(DedupKey.expires_at <= now))
            self._last_purge = now

    def after_commit(self) -> None:
        return None


class RedisDedupStore:
    """Dedup memory in Redis: a key per id, a sorted set per band scored by expiry time."""

    def __init__(self, client: redis.Redis, prefix: str = "musktracker:signals:dedup") -> None:
        self.client = client
        self.prefix = prefix
        self._pending: list[tuple[list[str], list[int], datetime]] = []

    def _id_key(self, source_id: str) -> str:
        return f"{self.prefix}:id:{source_id}"

    def _band_key(self, band: str) -> str:
        return f"{self.prefix}:simhash:{band}"

    def seen_ids(self, session: Session, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        values = self.client.mget([self._id_key(i) for i in ids])
        return {i for i, v in zip(ids, values, strict=True) if v is not None}

    def fingerprints_in_bands(
        self, session: Session, band_keys: Sequence[str]
    ) -> dict[str, set[int]]:
        now = utcnow().timestamp()
        pipe = self.client.pipeline(transaction=False)
        for band in band_keys:
            pipe.zrangebyscore(self._band_key(band), now, "+inf")
        return {
            band: {int(m, 16) for m in members}
            for band, members in zip(band_keys, pipe.execute(), strict=True)
            if members
        }

    def remember(
        self, session: Session, ids: Sequence[str], prints: Sequence[int], expires_at: datetime
    ) -> None:
        self._pending.append((list(ids), list(prints), expires_at))

    def after_commit(self) -> None:
        now = utcnow()
        pipe = self.client.pipeline(transaction=False)
        for ids, prints, expires_at in self._pending:
            ttl = max(int((expires_at - now).total_seconds()), 1)
            for source_id in ids:
                pipe.set(self._id_key(source_id), 1, ex=ttl)
            for p in prints:
                for band in fp.bands(p):
                    key = self._band_key(band)
                    pipe.zadd(key, {f"{p:016x}": expires_at.timestamp()})
                    pipe.zremrangebyscore(key, "-inf", now.timestamp())
                    pipe.expire(key, ttl)
        pipe.execute()
        self._pending.clear()


class Deduplicator:
    """Marks repeats in a batch as dropped and remembers the rest."""

    def __init__(self, store: DedupStore, days: float = 14.0) -> None:
        self.store = store
        self.ttl = timedelta(days=days)
        self._kept_ids: list[str] = []
        self._kept_prints: list[int] = []

    def apply(self, session: Session, events: Iterable[PipelineEvent]) -> None:
        """Mark repeats as dropped; reads only, so no lock is held during enrichment."""
        live = [e for e in events if e.dropped is None]
        seen = self.store.seen_ids(session, [e.dedup_id for e in live])
        prints = fp.simhashes([e.normalized_text for e in live])
        all_bands = [fp.bands(p) if p is not None else [] for p in prints]
        known = self.store.fingerprints_in_bands(
            session, sorted({b for own in all_bands for b in own})
        )
        kept_ids = self._kept_ids = []
        kept_prints = self._kept_prints = []
        for event, print_, own_bands in zip(live, prints, all_bands, strict=True):
            event.fingerprint = print_
            if event.dedup_id in seen:
                event.dropped = f"duplicate: {event.dedup_id} seen before"
                continue
            seen.add(event.dedup_id)
            if event.fingerprint is not None:
                candidates = set().union(*(known.get(b, set()) for b in own_bands))
                near = [
                    p for p in candidates if fp.distance(p, event.fingerprint) <= fp.MAX_DISTANCE
                ]
                if near:
                    event.dropped = f"near duplicate of an earlier text (simhash {near[0]:016x})"
                    continue
                for band in own_bands:
                    known.setdefault(band, set()).add(event.fingerprint)
                kept_prints.append(event.fingerprint)
            kept_ids.append(event.dedup_id)

    def remember(self, session: Session) -> None:
        """Store what the last `apply` kept, in the batch's transaction."""
        self.store.remember(session, self._kept_ids, self._kept_prints, utcnow() + self.ttl)

    def after_commit(self) -> None:
        self.store.after_commit()
