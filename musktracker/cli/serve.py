"""`musktracker serve`: run the REST API under uvicorn."""

from __future__ import annotations

import typer
import uvicorn

from musktracker.cli.helptext import run_module
from musktracker.cli.runtime import database, handle_errors

app = typer.Typer()


@app.command("serve")
@handle_errors
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    workers: int = typer.Option(
        1, "--workers", min=1, help="Worker processes (set PROMETHEUS_MULTIPROC_DIR when > 1)."
    ),
    worker_timeout: int = typer.Option(
        60,
        "--worker-timeout",
        min=1,
        help="Seconds a worker process may take to answer the supervisor's health check "
        "(with --workers > 1), starting up included, before it is killed and replaced.",
    ),
) -> None:
    """Serve the REST API (OpenAPI docs at /docs).

    Example: musktracker serve --host 0.0.0.0 --port 8000 --workers 2
    """
    database()  # fail now, with a clear message, if the database is not migrated
    uvicorn.run(
        "musktracker.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # uvicorn's default of 5 s is less than a worker needs to import the app on a busy
        # 2-core machine (3.4 s idle, 7-10 s at load 4.5): every worker was killed as hung
        # before it could serve, over and over.
        timeout_worker_healthcheck=worker_timeout,
        access_log=False,  # the app logs each request itself, with its request id
        proxy_headers=True,
    )


if __name__ == "__main__":
    run_module(app)
