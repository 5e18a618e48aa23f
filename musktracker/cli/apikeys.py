"""`musktracker apikeys`: create, list and revoke keys for the REST API."""

from __future__ import annotations

import typer
from rich.table import Table

from musktracker.cli.helptext import run_module
from musktracker.cli.runtime import console, database, fail, handle_errors
from musktracker.db.session import session_scope
from musktracker.security.apikeys import (
    ApiKeyError,
    create_key,
    list_keys,
    parse_scopes,
    revoke_key,
)

app = typer.Typer(
    help="Create, list and revoke API keys (sent as the X-API-Key header).\n\n"
    "Example: musktracker apikeys create --name dashboard --scopes read",
    no_args_is_help=True,
)


@app.command("create")
@handle_errors
def create(
    name: str = typer.Option(..., "--name", help="Unique name, e.g. the client using the key."),
    scopes: str = typer.Option(
        "read", "--scopes", help="Comma list of read, write, admin (admin > write > read)."
    ),
) -> None:
    """Create a key and print it ONCE; only its hash is stored.

    Example: musktracker apikeys create --name ingest-bot --scopes read,write
    """
    try:
        with session_scope(database()) as session:
            key, plain = create_key(session, name, parse_scopes(scopes))
    except ApiKeyError as exc:
        raise fail(str(exc)) from None
    console.print(f"created API key {key.id} {key.name!r} with scopes {key.scopes}")
    console.print("store it now; it cannot be shown again:")
    print(plain)


@app.command("list")
@handle_errors
def list_() -> None:
    """List keys (never the keys themselves).

    Example: musktracker apikeys list
    """
    with session_scope(database()) as session:
        table = Table("id", "name", "prefix", "scopes", "created (UTC)", "last used", "revoked")
        for key in list_keys(session):
            table.add_row(
                str(key.id),
                key.name,
                f"mt_{key.prefix}_…",
                key.scopes,
                f"{key.created_at:%Y-%m-%d %H:%M}",
                f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "-",
                f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "-",
            )
        console.print(table)


@app.command("revoke")
@handle_errors
def revoke(
    name_or_id: str = typer.Argument(..., help="Key name or id from `apikeys list`."),
) -> None:
    """Revoke a key; running API processes stop accepting it within API_KEY_CACHE_SECONDS.

    Example: musktracker apikeys revoke dashboard
    """
    try:
        with session_scope(database()) as session:
            key = revoke_key(session, name_or_id)
    except ApiKeyError as exc:
        raise fail(str(exc)) from None
    console.print(f"revoked API key {key.id} {key.name!r}")


if __name__ == "__main__":
    run_module(app)
