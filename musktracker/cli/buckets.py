"""`musktracker buckets`: recompute time buckets and features."""

from __future__ import annotations

import typer

from musktracker.accounts import get_account, list_accounts
from musktracker.cli.helptext import run_module
from musktracker.cli.runtime import console, database, fail, handle_errors, noun
from musktracker.db.session import session_scope
from musktracker.features.build import stored_rules
from musktracker.features.count_rule import CountRule
from musktracker.features.refresh import rebuild_account

app = typer.Typer(
    help="Recompute hourly/daily buckets and features.\n\n"
    "Example: musktracker buckets rebuild --account elonmusk --kinds original,quote,repost",
    no_args_is_help=True,
)


@app.command()
@handle_errors
def rebuild(
    account: str | None = typer.Option(None, "--account", "-a", help="One account (default: all)."),
    kinds: str = typer.Option(
        "all",
        "--kinds",
        help="Counting rule for the features: 'all' or a comma list of "
        "original, reply, quote, repost, unknown.",
    ),
) -> None:
    """Recompute every bucket of an account from its posts, then its features under the
    given counting rule (and every rule already stored).

    Example: musktracker buckets rebuild --account elonmusk --kinds original,quote,repost
    """
    try:
        rule = CountRule.parse(kinds)
    except ValueError as exc:
        raise fail(str(exc)) from None
    with session_scope(database()) as session:
        targets = [get_account(session, account)] if account else list_accounts(session)
        if not targets:
            console.print("no accounts tracked yet; nothing to rebuild")
        for acct in targets:
            result = rebuild_account(session, acct.id, [rule])
            if result is None:
                console.print(f"@{acct.username}: no posts")
                continue
            span = result.hourly_span
            # Quoted and ';'-separated: a rule name such as "original,quote" contains commas.
            names = [f"'{r.name}'" for r in stored_rules(session, acct.id)]
            written = result.features_written
            console.print(
                f"@{acct.username}: buckets {span[0]:%Y-%m-%d %H:%M} "
                f"to {span[1]:%Y-%m-%d %H:%M} UTC, "
                f"{written} feature {noun(written, 'row')} for "
                f"{noun(len(names), 'rule')} {'; '.join(names)}"
            )


if __name__ == "__main__":
    run_module(app)
