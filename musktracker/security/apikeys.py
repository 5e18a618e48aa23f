"""API keys: created once, shown once, stored only as a SHA-256 hash.

A key looks like `mt_<prefix>_<secret>`: the 8-hex-digit prefix finds the row without
scanning, and the 256-bit random secret makes a plain SHA-256 safe (no salt or slow hash is
needed for high-entropy secrets, unlike passwords). Scopes nest: admin > write > read.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from musktracker.db.models import ApiKey
from musktracker.db.types import MAX_ROW_ID
from musktracker.utc import utcnow

KEY_PATTERN = re.compile(r"^mt_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class ApiKeyError(ValueError):
    """A key name, scope or id is invalid, taken or unknown; the message names it."""


class Scope(enum.IntEnum):
    """What a key may do; a higher scope includes the lower ones."""

    READ = 1
    WRITE = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class KeyIdentity:
    """The verified caller: which key and what it may do."""

    id: int
    name: str
    prefix: str
    """Random and unique: names the key in shared state (rate-limit windows)."""
    scopes: frozenset[Scope]

    def allows(self, needed: Scope) -> bool:
        return any(s >= needed for s in self.scopes)


def parse_scopes(text: str) -> frozenset[Scope]:
    """Parse `read,write,admin` (any non-empty subset)."""
    scopes = set()
    for part in text.split(","):
        label = part.strip().lower()
        if not label:
            continue
        try:
            scopes.add(Scope[label.upper()])
        except KeyError:
            raise ApiKeyError(
                f"--scopes: {part.strip()!r} is not a scope (use read, write, admin)"
            ) from None
    if not scopes:
        raise ApiKeyError(f"--scopes {text!r} names no scope (use read, write, admin)")
    return frozenset(scopes)


def format_scopes(scopes: frozenset[Scope]) -> str:
    return ",".join(s.label for s in sorted(scopes))


def hash_key(secret_key: str) -> str:
    return hashlib.sha256(secret_key.encode()).hexdigest()


def create_key(session: Session, name: str, scopes: frozenset[Scope]) -> tuple[ApiKey, str]:
    """Store a new key and return it with the plain key, which is never stored."""
    if not _NAME.match(name):
        raise ApiKeyError(f"--name {name!r} must be 1-64 letters, digits, '_', '.' or '-'")
    if name.isdigit():
        raise ApiKeyError(
            f"--name {name!r} must not be only digits: `apikeys revoke` reads those as an id"
        )
    if session.scalar(select(ApiKey).where(ApiKey.name == name)) is not None:
        raise ApiKeyError(f"--name {name!r} is already used by another key")
    prefix = secrets.token_hex(4)
    while session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is not None:
        prefix = secrets.token_hex(4)
    plain = f"mt_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(name=name, prefix=prefix, key_hash=hash_key(plain), scopes=format_scopes(scopes))
    session.add(key)
    session.flush()
    return key, plain


def list_keys(session: Session) -> list[ApiKey]:
    """Every key, revoked ones included, oldest first."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))


def revoke_key(session: Session, name_or_id: str) -> ApiKey:
    """Revoke a key by name or numeric id; revoking twice is an error that says so.

    Digits are an id: names of digits only are refused now, and an older key named so is
    found by its name only when no key has that id. An id beyond the database's 64-bit
    integers names no key.
    """
    key = None
    if name_or_id.isdigit() and int(name_or_id) <= MAX_ROW_ID:
        key = session.get(ApiKey, int(name_or_id))
    if key is None:
        key = session.scalar(select(ApiKey).where(ApiKey.name == name_or_id))
    if key is None:
        raise ApiKeyError(f"no API key named or numbered {name_or_id!r}")
    if key.revoked_at is not None:
        raise ApiKeyError(
            f"API key {key.name!r} was already revoked at {key.revoked_at:%Y-%m-%d %H:%M} UTC"
        )
    key.revoked_at = utcnow()
    return key


def verify_key(session: Session, presented: str) -> KeyIdentity | None:
    """The identity of a valid, unrevoked key, or None; records when it was last used."""
    match = KEY_PATTERN.match(presented)
    if match is None:
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == match.group(1)))
    if key is None or key.revoked_at is not None:
        return None
    if not hmac.compare_digest(key.key_hash, hash_key(presented)):
        return None
    key.last_used_at = utcnow()
    return KeyIdentity(key.id, key.name, key.prefix, parse_scopes(key.scopes))
