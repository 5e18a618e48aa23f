"""`musktracker status`: where each account and each shared part stands."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

import typer
from rich.table import Table
from sqlalchemy.engine import make_url

from musktracker.cli.helptext import run_module
from musktracker.cli.runtime import console, database, handle_errors, print_wide, settings
from musktracker.db import migrate as migrations
from musktracker.db.models import OutboxStatus
from musktracker.db.session import normalize_url, require_tables, session_scope
from musktracker.status import (
    AccountStatus,
    SystemStatus,
    account_statuses,
    status_document,
    system_status,
)


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else "-"


def _backtest(s: AccountStatus) -> str:
    run = s.activity.ranking if s.activity else None
    if run is None:
        return "- (run `musktracker train`)"
    return f"{_when(run.ran_at)}, as of {_when(run.as_of)}"


def _best(s: AccountStatus) -> str:
    run = s.activity.ranking if s.activity else None
    return f"{run.best_model} (CRPS {run.best_crps:.3f})" if run else "-"


def _shifts(s: AccountStatus) -> str:
    shifts = s.activity.regime_shifts if s.activity else None
    if shifts is None:
        return "-"
    return f"{shifts.stored:,}; newest {shifts.direction} from {_when(shifts.change_at)}"


ACCOUNT_ROWS: dict[str, Callable[[AccountStatus], str]] = {
    "posts": lambda s: f"{s.posts:,}",
    "deleted (kept, not counted)": lambda s: f"{s.deleted_posts:,}",
    "first post (UTC)": lambda s: _when(s.first_post),
    "last post (UTC)": lambda s: _when(s.last_post),
    "hourly buckets": lambda s: f"{s.hourly_buckets:,} (sum {s.hourly_bucket_total:,})",
    "daily buckets": lambda s: f"{s.daily_buckets:,}",
    "feature rows": lambda s: f"{s.features:,}",
    "last ingest (UTC)": lambda s: _when(s.last_ingest),
}
ACTIVITY_ROWS: dict[str, Callable[[AccountStatus], str]] = {
    "backtest ranking (UTC)": _backtest,
    "best model (--model best)": _best,
    "last forecast stored (UTC)": lambda s: _when(s.activity.last_forecast if s.activity else None),
    "regime shifts stored": _shifts,
}
OUTBOX_WORDS = {
    OutboxStatus.PENDING.value: "waiting",
    OutboxStatus.SENDING.value: "being sent",
    OutboxStatus.FAILED.value: "to retry",
    OutboxStatus.DLQ.value: "dead-lettered",
    OutboxStatus.DONE.value: "delivered",
}


def _retrain(shared: SystemStatus) -> str:
    decision = shared.last_retrain
    if decision is None:
        return "-"
    outcome = (
        f"promoted v{decision.challenger_version}" if decision.promoted else "kept the champion"
    )
    return f"{_when(decision.created_at)}: {outcome}"


def _shared_rows(shared: SystemStatus) -> dict[str, str]:
    champion = shared.sentiment_champion
    recall = champion.dev_macro_recall if champion else None
    return {
        "sentiment champion": (
            f"v{champion.version} {champion.kind}"
            + (f", dev macro recall {recall:.3f}" if recall is not None else "")
            if champion
            else "none (run `musktracker sentiment train`)"
        ),
        "labelled samples": (
            f"{shared.labelled_samples:,} ({shared.samples_not_trained_on:,} not trained on yet)"
        ),
        "last retraining decision (UTC)": _retrain(shared),
        "signals": f"{shared.signals:,}, newest {_when(shared.last_signal)}",
        "alert outbox": ", ".join(
            f"{shared.outbox[status]:,} {word}" for status, word in OUTBOX_WORDS.items()
        ),
    }


@handle_errors
def status(
    as_json: bool = typer.Option(
        False, "--json", help="One JSON object: database, accounts and shared parts."
    ),
) -> None:
    """Where each account and each shared part stands: data, models, sentiment, alerts.

    First the database's schema revision. Then per account: posts, first and last post,
    buckets, features, the last ingest, the backtest run that ranks the models for
    `forecast --model best` and its best model, the last stored forecast and the regime
    shifts. Then the shared parts: the sentiment champion, labelled samples, the last
    retraining decision, signals and the alert outbox (a dead-lettered alert needs
    `signals outbox retry`).

    Example: musktracker status --json
    """
    url = settings().database_url
    engine = database(require=False)
    require_tables(engine)  # an older schema is reported below, not refused
    # An older schema works here but not for every command, and lacks later tables: only
    # the first part is shown. A newer one was written by a newer MuskTracker.
    state = migrations.schema_state(url)
    current = state.current == state.head
    with session_scope(engine) as session:
        rows = account_statuses(session, activity=current)
        shared = system_status(session, settings().sentiment_model_name) if current else None
    shown = make_url(normalize_url(url)).render_as_string(hide_password=True)
    if as_json:
        typer.echo(json.dumps({
            "database": {"url": shown, "revision": state.current, "advice": state.advice},
            **status_document(rows, shared),
        }))
        return
    console.print(f"database {shown} at revision {state.current} ({state.advice})")
    if not current:
        console.print("backtests, forecasts, sentiment and signals show once it is up to date")
    if rows:
        # One column per account: reads well for any number of accounts in a narrow terminal.
        table = Table("", *("@" + s.username for s in rows), title="MuskTracker status")
        for label, show in {**ACCOUNT_ROWS, **(ACTIVITY_ROWS if current else {})}.items():
            table.add_row(label, *(show(s) for s in rows))
        console.print(table)
    else:
        console.print("no accounts tracked yet; add one with `musktracker accounts add USERNAME`")
    if shared is not None:
        table = Table("", "", title="shared by all accounts", show_header=False)
        for label, value in _shared_rows(shared).items():
            table.add_row(label, value)
        print_wide(table)


app = typer.Typer()
app.command(name="status")(status)

if __name__ == "__main__":
    run_module(app)
