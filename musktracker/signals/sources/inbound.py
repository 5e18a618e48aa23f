"""Inbound events from any other producer, one JSON object per line (`signals ingest`).

Every line is validated before anything is written: one bad line fails the whole file with
its line number, field and value (a long value cut, with its length), and the database is
left unchanged. An event dated more than 5 minutes ahead is refused (`inbound_event`).
`POST /v1/signals/ingest` accepts the same shape.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from musktracker.signals.event import RawEvent, inbound_event
from musktracker.textfile import NotUtf8Error, read_utf8
from musktracker.validation import reason


class InboundError(ValueError):
    """A JSONL file with a line that is not a valid event."""


SHOWN_CHARS = 60
"""How much of a bad value an error shows: a 25,000-character text is not repeated whole."""


def shown(value: object) -> str:
    """`value` as the error shows it, long text cut with its length."""
    text = repr(value)
    if len(text) <= SHOWN_CHARS:
        return text
    size = f" ({len(value):,} characters)" if isinstance(value, str) else ""
    return f"{text[: SHOWN_CHARS - 3]}...{size}"


def parse_line(line: str, number: int) -> RawEvent:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InboundError(f"line {number}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise InboundError(f"line {number}: expected a JSON object")
    try:
        return inbound_event(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(line)"
        raise InboundError(
            f"line {number}: field {field!r} = {shown(err.get('input'))}: {reason(err)}"
        ) from None


def read_jsonl(path: Path) -> list[RawEvent]:
    """All events of a JSONL file; blank lines are skipped."""
    try:
        lines = read_utf8(path).splitlines()
    except OSError as exc:
        raise InboundError(f"cannot read {path}: {exc.strerror}") from None
    except NotUtf8Error as exc:
        raise InboundError(f"cannot read {exc}") from None
    return [parse_line(line, i) for i, line in enumerate(lines, start=1) if line.strip()]
