"""Tracked accounts: adding, finding and listing them."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from musktracker.db.models import Account

_USERNAME = re.compile(r"^[A-Za-z0-9_]{1,15}$")


class AccountError(ValueError):
    """An account name or id is invalid, unknown or already taken."""


def normalize_username(username: str) -> str:
    """Lower-case handle without '@'; X handles are 1-15 letters, digits or underscores."""
    name = username.strip().removeprefix("@")
    if not _USERNAME.match(name):
        raise AccountError(
            f"username {username!r} is not a valid X handle (1-15 letters, digits or '_')"
        )
    return name.lower()


def add_account(session: Session, username: str, x_user_id: str | None = None) -> Account:
    """Track a new account; refuses a duplicate handle or X user id."""
    name = normalize_username(username)
    if x_user_id is not None and not x_user_id.isdigit():
        raise AccountError(f"--id {x_user_id!r} is not a numeric X user id")
    if session.scalar(select(Account).where(Account.username == name)) is not None:
        raise AccountError(f"account {name!r} is already tracked")
    if x_user_id is not None:
        other = session.scalar(select(Account).where(Account.x_user_id == x_user_id))
        if other is not None:
            raise AccountError(f"X user id {x_user_id} already belongs to {other.username!r}")
    account = Account(username=name, x_user_id=x_user_id)
    session.add(account)
    session.flush()
    return account


def get_account(session: Session, username: str) -> Account:
    """The tracked account with this handle, or a clear error naming it."""
    name = normalize_username(username)
    account = session.scalar(select(Account).where(Account.username == name))
    if account is None:
        raise AccountError(
            f"account {name!r} is not tracked; add it with `musktracker accounts add {name}`"
        )
    return account


def list_accounts(session: Session) -> list[Account]:
    """Every tracked account, by handle."""
    return list(session.scalars(select(Account).order_by(Account.username)))
