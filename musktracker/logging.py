"""Structured logging: readable console lines in development, one JSON object per line in
production (`LOG_FORMAT=json`). Logs go to stderr so command output on stdout stays clean."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    """Configure structlog and the standard library logger once per process."""
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level)),
        # The stderr of the moment, not of configure time: test runners and CliRunner swap
        # (and close) sys.stderr, and a logger holding an old one fails on a closed file.
        logger_factory=lambda *_: structlog.PrintLogger(sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=getattr(logging, level), stream=sys.stderr, format="%(message)s")
    # Alembic narrates every step at INFO; its result is reported by our commands instead.
    # httpx logs every request's full URL at INFO ("HTTP Request: POST .../bot<TOKEN>/..."):
    # a secret in the logs, and a plain-text line among JSON ones. httpcore is as chatty at
    # DEBUG. Their warnings still show.
    quiet = max(logging.WARNING, getattr(logging, level))
    for name in ("alembic", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(quiet)


def get_logger(name: str) -> Any:
    """A bound structlog logger carrying the module name."""
    # Initial values stay lazy: module-level loggers pick up configure_logging() later.
    return structlog.get_logger(logger_name=name)
