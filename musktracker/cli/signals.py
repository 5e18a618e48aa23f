"""`musktracker signals`: ingest events, run the pipeline, deliver the outbox, check rules."""

from __future__ import annotations

import signal
import threading
from collections.abc import Mapping
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from musktracker.cli.helptext import run_module
from musktracker.cli.runtime import console, database, fail, handle_errors, noun, settings
from musktracker.db.models import OutboxStatus
from musktracker.db.session import session_scope
from musktracker.signals import outbox
from musktracker.signals.factory import build_dispatcher, build_pipeline, build_sources
from musktracker.signals.metrics import serve
from musktracker.signals.outbox import OutboxError
from musktracker.signals.rules import RulesError, load_rules
from musktracker.signals.runner import poll_once, run_forever
from musktracker.signals.sources.inbound import InboundError, read_jsonl

app = typer.Typer(help="Signals: scored events from posts and models, delivered via an outbox.")
rules_app = typer.Typer(help="Signal rules files.")
outbox_app = typer.Typer(help="The delivery outbox.")
app.add_typer(rules_app, name="rules")
app.add_typer(outbox_app, name="outbox")

_SIGNALS_ERRORS = (InboundError, RulesError, OutboxError)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _dropped(dropped: Mapping[str, int]) -> str:
    """`2 (1 duplicate, 1 filtered)`, or `0`: why events were dropped, in words."""
    total = sum(dropped.values())
    reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(dropped.items()) if n)
    return f"{total} ({reasons})" if total else "0"


@app.command()
@handle_errors
def ingest(file: Path = typer.Argument(..., help="JSON Lines file, one event per line.")) -> None:
    """Validate every line of FILE, then run the events through the pipeline.

    A bad line stops everything with its line number and field; nothing is written.

    Example: musktracker signals ingest events.jsonl
    """
    try:
        events = read_jsonl(file)
        engine = database()
        pipeline = build_pipeline(settings(), engine)
    except _SIGNALS_ERRORS as exc:
        raise fail(str(exc)) from None
    result = pipeline.process(events)
    console.print(
        f"{len(events)} {noun(len(events), 'event')} read: {result.stored} stored, "
        f"{result.outbox_rows} queued for delivery, dropped {_dropped(result.dropped)}"
    )


@app.command()
@handle_errors
def run(once: bool = typer.Option(False, "--once", help="One pass, then exit.")) -> None:
    """Process new posts and internal events (bursts, regime shifts, sentiment swings).

    The rules file is re-read when it changes; a broken edit is reported and ignored.

    Example: musktracker signals run --once
    """
    current = settings()
    engine = database()
    try:
        pipeline = build_pipeline(current, engine)
    except RulesError as exc:
        raise fail(str(exc)) from None
    sources = build_sources()
    if once:
        result = poll_once(engine, pipeline, sources)
        console.print(
            f"{result.stored} {noun(result.stored, 'signal')} stored, "
            f"{result.outbox_rows} queued, "
            f"dropped {_dropped(result.dropped)}"
        )
        if result.failed_sources:
            raise fail(
                f"{noun(len(result.failed_sources), 'source')} "
                f"{', '.join(result.failed_sources)} failed in this pass "
                "(see the log); the others were processed"
            )
        return
    serve(current.signals_metrics_port)
    console.print("signals pipeline running; Ctrl-C stops it")
    run_forever(engine, pipeline, sources, current.signals_poll_seconds, _stop_on_signals())


@app.command()
@handle_errors
def dispatch(
    once: bool = typer.Option(False, "--once", help="Send what is due now, then exit."),
    poll: float = typer.Option(
        1.0, min=0.05, help="Seconds between checks for due rows (at least 0.05)."
    ),
) -> None:
    """Deliver queued signals to Telegram and the webhook, retrying as the policy says.

    On PostgreSQL several dispatchers may run at once; on SQLite run only one.

    Example: musktracker signals dispatch --once
    """
    current = settings()
    dispatcher = build_dispatcher(current, database())
    if once:
        attempts = dispatcher.run_once()
        console.print(f"{attempts} delivery {noun(attempts, 'attempt')}")
        return
    serve(current.signals_metrics_port)
    dispatcher.run_forever(poll, _stop_on_signals())


@rules_app.command("check")
@handle_errors
def rules_check(file: Path = typer.Argument(..., help="Rules YAML file.")) -> None:
    """Validate a rules file: YAML shape, known names, safe conditions, env variables.

    Example: musktracker signals rules check rules/rules.yml
    """
    try:
        rules = load_rules(file)
    except RulesError as exc:
        raise fail(str(exc)) from None
    table = Table(
        "name",
        "score",
        "priority",
        "condition",
        title=f"{escape(str(file))}: {len(rules.rules)} {noun(len(rules.rules), 'rule')}",
    )
    for rule in rules.rules:
        # Text: a condition such as "'[x]' in text" is not markup.
        table.add_row(
            Text(rule.name), f"{rule.score:g}", Text(rule.priority or "-"), Text(rule.condition)
        )
    console.print(table)


@outbox_app.command("list")
@handle_errors
def outbox_list(
    status: OutboxStatus | None = typer.Option(None, "--status", help="Only rows of this status."),
    limit: int = typer.Option(50, min=1, help="Rows to show, newest first."),
) -> None:
    """Show outbox rows with their status, attempts and last error.

    Example: musktracker signals outbox list --status dlq
    """
    with session_scope(database()) as session:
        rows = outbox.list_rows(session, status.value if status else None, limit)
        table = Table("id", "channel", "event", "status", "tries", "next try (UTC)", "last error")
        for row in rows:
            table.add_row(
                str(row.id),
                row.channel,
                Text(row.event_key),
                row.status,
                str(row.retry_count),
                f"{row.next_retry_at:%Y-%m-%d %H:%M:%S}",
                Text((row.last_error or "")[:60]),  # Text: "[...]" in an error is not markup
            )
    console.print(table)


@outbox_app.command("retry")
@handle_errors
def outbox_retry(
    row_id: int | None = typer.Argument(None, help="Outbox row id."),
    all_dlq: bool = typer.Option(False, "--all-dlq", help="Requeue every dead-lettered row."),
) -> None:
    """Put a row, or every dead-lettered row, back in the queue.

    A dlq, failed or pending row can be requeued; a done row (it would be delivered again)
    or a sending one (in flight) is refused.

    Example: musktracker signals outbox retry --all-dlq
    """
    if (row_id is None) == (not all_dlq):
        raise fail("give either an outbox row ID or --all-dlq")
    try:
        with session_scope(database()) as session:
            count = outbox.retry(session, row_id, all_dlq)
    except OutboxError as exc:
        raise fail(str(exc)) from None
    console.print(f"{count} outbox {noun(count, 'row')} requeued")


if __name__ == "__main__":
    run_module(app)
