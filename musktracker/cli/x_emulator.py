"""`musktracker x-emulator`: a local X API v2 server over archive files."""

from __future__ import annotations

import typer

from musktracker.cli.helptext import run_module
from musktracker.cli.runtime import console, fail, handle_errors, noun
from musktracker.ingest.emulator import (
    ENDPOINTS,
    EmulatorOptions,
    Faults,
    XEmulator,
    load_account,
)
from musktracker.utc import parse_utc


@handle_errors
def x_emulator(
    archive: list[str] = typer.Option(
        ...,
        "--archive",
        help="posts.csv (or ids/tweets.js) to serve, as PATH (user = folder name) or "
        "USERNAME=PATH; repeat for several accounts.",
    ),
    port: int = typer.Option(
        8089, "--port", min=0, max=65535, help="Port on 127.0.0.1 (0: any free port)."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    now: str | None = typer.Option(
        None, "--now", help="The emulator's frozen clock, ISO 8601 UTC. Default: newest post."
    ),
    timeline_cap: int = typer.Option(3200, "--timeline-cap", min=1, help="Timeline reach."),
    rate_limit: int = typer.Option(900, "--rate-limit", min=1, help="Calls per window."),
    rate_window: float = typer.Option(
        900.0, "--rate-window", min=0.001, help="Window length, seconds."
    ),
    token: str | None = typer.Option(None, "--token", help="Only accept this bearer token."),
    keepalive: float = typer.Option(
        20.0, "--keepalive", min=0.001, help="Stream keep-alive, seconds."
    ),
    stream_interval: float = typer.Option(
        0.05, "--stream-interval", min=0.0, help="Seconds between streamed posts."
    ),
    fail_429_every: int = typer.Option(
        0, "--fail-429-every", min=0, help="429 every Nth call (0: never)."
    ),
    reset_seconds: int = typer.Option(
        2, "--reset-seconds", min=0, help="Injected 429s reset after."
    ),
    reset_in_ms: bool = typer.Option(
        False,
        "--reset-in-ms",
        help="Send an injected 429's x-rate-limit-reset in milliseconds, as some proxies do.",
    ),
    fail_503_every: int = typer.Option(
        0, "--fail-503-every", min=0, help="503 every Nth call (0: never)."
    ),
    drop_every: int = typer.Option(
        0, "--drop-every", min=0, help="Drop mid-body every Nth call (0: never)."
    ),
    malformed_every: int = typer.Option(
        0, "--malformed-every", min=0, help="Malformed body every Nth call (0: never)."
    ),
    malformed_kind: str = typer.Option(
        "json", "--malformed-kind", help="json (truncated) or schema (post without created_at)."
    ),
    stall_after: int = typer.Option(
        0, "--stall-after", min=0, help="Stream connections go silent after N posts (0: never)."
    ),
    status: int = typer.Option(0, "--status", help="Answer everything 401 or 403."),
    forbid: list[str] = typer.Option(
        [],
        "--forbid",
        help=f"Endpoint answered 403 (outside the plan), repeatable: {', '.join(ENDPOINTS)}.",
    ),
    protected_timeline: bool = typer.Option(
        False,
        "--protected-timeline",
        help="Answer timelines with HTTP 200 and only `errors`, as X does for a protected "
        "account.",
    ),
    repeat_next_token: bool = typer.Option(
        False,
        "--repeat-next-token",
        help="Pages return the token they were asked with as next_token (paging never ends).",
    ),
) -> None:
    """Serve archived posts through X API v2 endpoints on loopback, with injectable faults.

    Point ingestion at it with X_API_BASE_URL=http://127.0.0.1:8089 and any X_BEARER_TOKEN.
    Runs until Ctrl-C.

    Example: musktracker x-emulator --archive ../shared/data/elonmusk/posts.csv --port 8089
    """
    if malformed_kind not in ("json", "schema"):
        raise fail(f"--malformed-kind {malformed_kind!r} must be 'json' or 'schema'")
    if status not in (0, 401, 403):
        raise fail(f"--status {status} must be 401 or 403")
    unknown = [name for name in forbid if name not in ENDPOINTS]
    if unknown:
        raise fail(f"--forbid {unknown[0]!r} is not an endpoint; one of {', '.join(ENDPOINTS)}")
    clock = parse_utc(now, "--now") if now else None  # a bad one: TimeFormatError, exit 1
    accounts = [load_account(spec) for spec in archive]  # a bad file: ArchiveError, exit 1
    options = EmulatorOptions(
        now=clock,
        timeline_cap=timeline_cap,
        rate_limit=rate_limit,
        rate_window_seconds=rate_window,
        token=token,
        keepalive_seconds=keepalive,
        stream_interval_seconds=stream_interval,
        faults=Faults(
            rate_limit_every=fail_429_every,
            unavailable_every=fail_503_every,
            drop_every=drop_every,
            malformed_every=malformed_every,
            malformed_kind=malformed_kind,
            reset_seconds=reset_seconds,
            stall_after=stall_after,
            status=status,
            forbidden=frozenset(forbid),
            errors_only=frozenset({"timeline"} if protected_timeline else ()),
            reset_scale=1000 if reset_in_ms else 1,
            repeat_token=repeat_next_token,
        ),
    )
    emulator = XEmulator(accounts, options)
    try:
        url = emulator.bind(host, port)
    except OSError as exc:
        raise fail(f"--host {host} --port {port}: cannot listen there ({exc.strerror})") from None
    names = ", ".join(f"@{a.username} ({len(a.ids)} {noun(len(a.ids), 'post')})" for a in accounts)
    console.print(f"X API emulator at {url} serving {names}; now = {emulator.now.isoformat()}")
    console.print(f"X_API_BASE_URL={url}", highlight=False)
    try:
        emulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


app = typer.Typer()
app.command(name="x-emulator")(x_emulator)

if __name__ == "__main__":
    run_module(app)
