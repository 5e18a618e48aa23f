"""Inbound events from any other producer, one JSON object per line (`signals ingest`).

Every line is validated before anything is written: one bad line fails the whole file with
its line number, field and value, and the database is left unchanged. The same shape is what
`POST /v1/signals/ingest` will accept in the API.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from musktracker.signals.event import RawEvent
from musktracker.textfile import NotUtf8Error, read_utf8


class InboundError(ValueError):
    """A JSONL file with a line that is not a valid event."""


def parse_line(line: str, number: int) -> RawEvent:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InboundError(f"line {number}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise InboundError(f"line {number}: expected a JSON object")
    try:
        return RawEvent.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(line)"
        raise InboundError(
            f"line {number}: field {field!r} = {err.get('input')!r}: {err['msg']}"
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
