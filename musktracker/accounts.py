"""Tracked accounts: adding, finding, listing them and correcting their X user id (removing
one, with everything stored about it: `account_removal`)."""

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


MAX_USER_ID = 2**64 - 1
"""X ids are 64-bit integers; anything larger is a typo (and overflowed the column: a
PostgreSQL DataError traceback beyond 32 digits)."""


def normalize_user_id(x_user_id: str) -> str:
    """An X user id as stored: ASCII digits only, without leading zeros, so "0044196397"
    and "44196397" are the same id (and "٤٤١", digits of another script, is refused)."""
    text = x_user_id.strip()
    if not text or not text.isascii() or not text.isdigit():
        raise AccountError(f"X user id {x_user_id!r} is not a number made of digits 0-9")
    if int(text) > MAX_USER_ID:
        raise AccountError(f"X user id {x_user_id!r} is larger than any X id (2**64 - 1)")
    return str(int(text))


def id_owner(session: Session, x_user_id: str, other_than: int | None = None) -> Account | None:
    """The tracked account that already has this X user id (besides `other_than`)."""
    query = select(Account).where(Account.x_user_id == x_user_id)
    if other_than is not None:
        query = query.where(Account.id != other_than)
    return session.scalar(query)


def add_account(session: Session, username: str, x_user_id: str | None = None) -> Account:
    """Track a new account; refuses a duplicate handle or X user id."""
    name = normalize_username(username)
    if x_user_id is not None:
        x_user_id = normalize_user_id(x_user_id)
    if session.scalar(select(Account).where(Account.username == name)) is not None:
        raise AccountError(f"account {name!r} is already tracked")
    if x_user_id is not None:
        other = id_owner(session, x_user_id)
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


def set_user_id(session: Session, username: str, x_user_id: str | None) -> Account:
    """Correct (or, with None, forget) an account's X user id; ingestion looks up a missing
    id by handle. Refuses an id another tracked account has."""
    account = get_account(session, username)
    if x_user_id is not None:
        x_user_id = normalize_user_id(x_user_id)
        other = id_owner(session, x_user_id, other_than=account.id)
        if other is not None:
            raise AccountError(f"X user id {x_user_id} already belongs to {other.username!r}")
    account.x_user_id = x_user_id
    session.flush()
    return account


def list_accounts(session: Session) -> list[Account]:
    """Every tracked account, by handle."""
    return list(session.scalars(select(Account).order_by(Account.username)))


NAMES_SHOWN = 10
"""How many handles an error listing the tracked accounts names before "and N more"."""


def default_account(session: Session, option: str = "--account") -> Account:
    """The account a one-account command works on when none is named: the only tracked one.
    With several there is no right guess (an operator tracking @a and @b who forgot
    `--account` got @elonmusk's numbers, or "add elonmusk" when it was not tracked), so the
    error names them and the option."""
    accounts = list_accounts(session)
    if len(accounts) == 1:
        return accounts[0]
    if not accounts:
        raise AccountError(
            "no accounts tracked yet; add one with `musktracker accounts add USERNAME`"
        )
    names = ", ".join(f"@{a.username}" for a in accounts[:NAMES_SHOWN])
    if len(accounts) > NAMES_SHOWN:
        names += f" and {len(accounts) - NAMES_SHOWN} more"
    raise AccountError(
        f"{len(accounts)} accounts are tracked ({names}); name one with {option}"
    )


def resolve_account(session: Session, username: str | None, option: str = "--account") -> Account:
    """The named account, or with None the default one (`default_account`)."""
    return get_account(session, username) if username is not None else default_account(
        session, option
    )
