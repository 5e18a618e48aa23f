"""Reading post archives: a `tweet_id,created_at` CSV, a plain list of ids, or the
`tweets.js` file of X's "Download your data" archive.

Parsing never touches the database. Every bad line is recorded with its line number and
reason, so the caller can refuse the whole file or import only the good lines.
"""

from __future__ import annotations

import csv
import enum
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from musktracker.db.models import PostKind
from musktracker.ingest.snowflake import snowflake_time
from musktracker.utc import parse_utc

ProgressCallback = Callable[[int, int], None]
"""Called as progress(bytes_done, bytes_total) while a file is read."""


class ArchiveFormat(enum.StrEnum):
    CSV = "csv"
    IDS = "ids"
    X_ARCHIVE = "x-archive"


class ArchiveError(ValueError):
    """The file cannot be imported as asked; the message names the file, line and reason."""


@dataclass(frozen=True)
class PostRecord:
    """One post as read from any source, ready to store."""

    tweet_id: str
    created_at: datetime
    kind: PostKind = PostKind.UNKNOWN
    text: str | None = None


@dataclass(frozen=True)
class LineError:
    line: int
    reason: str


@dataclass
class ParsedArchive:
    path: Path
    records: list[PostRecord] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    duplicates: int = 0

    def describe_errors(self, limit: int = 5) -> str:
        shown = "; ".join(f"line {e.line}: {e.reason}" for e in self.errors[:limit])
        more = f" (and {len(self.errors) - limit} more)" if len(self.errors) > limit else ""
        return f"{self.path}: {shown}{more}"


def detect_format(path: Path) -> ArchiveFormat:
    """Guess the format from the file name: .csv, .js (X archive), anything else ids."""
    if path.suffix.lower() == ".csv":
        return ArchiveFormat.CSV
    if path.suffix.lower() == ".js":
        return ArchiveFormat.X_ARCHIVE
    return ArchiveFormat.IDS


def _parse_id(raw: str) -> str:
    text = raw.strip()
    if not text.isdigit() or not text.isascii():
        raise ValueError(f"tweet_id {raw!r} is not a numeric id")
    return str(int(text))


def _kind(raw: str) -> PostKind:
    try:
        return PostKind(raw.strip().lower())
    except ValueError:
        allowed = ", ".join(k.value for k in PostKind)
        raise ValueError(f"kind {raw!r} is not one of {allowed}") from None


def _lines(path: Path, progress: ProgressCallback | None) -> Iterator[tuple[int, str]]:
    total = path.stat().st_size
    done = 0
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        for number, line in enumerate(handle, start=1):
            done += len(line)
            if progress is not None and number % 5000 == 0:
                progress(done, total)
            yield number, line
    if progress is not None:
        progress(total, total)


def _parse_csv(path: Path, out: ParsedArchive, progress: ProgressCallback | None) -> None:
    lines = _lines(path, progress)
    try:
        _, header_line = next(lines)
    except StopIteration:
        raise ArchiveError(f"{path}: file is empty") from None
    header = [h.strip() for h in next(csv.reader([header_line]))]
    if "tweet_id" not in header or "created_at" not in header:
        raise ArchiveError(
            f"{path}: line 1: CSV header must name the columns tweet_id and created_at; "
            f"got {header_line.strip()!r}"
        )
    id_col, time_col = header.index("tweet_id"), header.index("created_at")
    kind_col = header.index("kind") if "kind" in header else None
    text_col = header.index("text") if "text" in header else None
    for number, line in lines:
        if not line.strip():
            continue
        try:
            cells = next(csv.reader([line]))
            if len(cells) != len(header):
                raise ValueError(f"expected {len(header)} columns, found {len(cells)}")
            out.records.append(
                PostRecord(
                    tweet_id=_parse_id(cells[id_col]),
                    created_at=parse_utc(cells[time_col], "created_at"),
                    kind=_kind(cells[kind_col]) if kind_col is not None else PostKind.UNKNOWN,
                    text=cells[text_col] if text_col is not None else None,
                )
            )
        except ValueError as exc:
            out.errors.append(LineError(number, str(exc)))


def _parse_ids(path: Path, out: ParsedArchive, progress: ProgressCallback | None) -> None:
    for number, line in _lines(path, progress):
        text = line.strip()
        if not text or text.startswith("#") or text == "tweet_id":
            continue
        try:
            tweet_id = _parse_id(text)
            out.records.append(PostRecord(tweet_id, snowflake_time(int(tweet_id))))
        except ValueError as exc:
            out.errors.append(LineError(number, str(exc)))


_ARCHIVE_TIME = "%a %b %d %H:%M:%S %z %Y"  # "Wed Oct 10 20:19:24 +0000 2018"


def _archive_record(entry: object) -> PostRecord:
    tweet = entry.get("tweet", entry) if isinstance(entry, dict) else None
    if not isinstance(tweet, dict):
        raise ValueError("entry is not a JSON object with a 'tweet' object")
    raw_id = tweet.get("id_str", tweet.get("id"))
    if raw_id is None:
        raise ValueError("tweet has no id_str")
    tweet_id = _parse_id(str(raw_id))
    raw_time = tweet.get("created_at")
    if not isinstance(raw_time, str):
        raise ValueError("tweet has no created_at")
    try:
        created_at = parse_utc(datetime.strptime(raw_time, _ARCHIVE_TIME).isoformat())
    except ValueError:
        raise ValueError(f"created_at {raw_time!r} is not in X's archive format") from None
    text = tweet.get("full_text", tweet.get("text"))
    text = text if isinstance(text, str) else None
    if text is not None and text.startswith("RT @"):
        kind = PostKind.REPOST
    elif tweet.get("in_reply_to_status_id_str") or tweet.get("in_reply_to_status_id"):
        kind = PostKind.REPLY
    elif tweet.get("quoted_status_id_str") or tweet.get("is_quote_status") is True:
        kind = PostKind.QUOTE
    else:
        kind = PostKind.ORIGINAL
    return PostRecord(tweet_id, created_at, kind, text)


def _parse_x_archive(path: Path, out: ParsedArchive, progress: ProgressCallback | None) -> None:
    text = path.read_text(encoding="utf-8-sig")
    if progress is not None:
        progress(len(text), len(text))
    start = text.find("[")
    if start < 0 or not text[:start].strip().rstrip("=").strip().startswith("window.YTD"):
        raise ArchiveError(
            f"{path}: line 1: not an X archive tweets.js (expected 'window.YTD.tweets.part0 = [')"
        )
    decoder = json.JSONDecoder()
    pos = start + 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            raise ArchiveError(f"{path}: the JSON array is not closed with ']'")
        if text[pos] == "]":
            break
        line = text.count("\n", 0, pos) + 1
        try:
            entry, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise ArchiveError(f"{path}: line {exc.lineno}: malformed JSON: {exc.msg}") from None
        try:
            out.records.append(_archive_record(entry))
        except ValueError as exc:
            out.errors.append(LineError(line, str(exc)))


_PARSERS = {
    ArchiveFormat.CSV: _parse_csv,
    ArchiveFormat.IDS: _parse_ids,
    ArchiveFormat.X_ARCHIVE: _parse_x_archive,
}


def parse_archive(
    path: Path, fmt: ArchiveFormat | None = None, progress: ProgressCallback | None = None
) -> ParsedArchive:
    """Read every post of `path`; bad lines are collected in `errors`, repeats dropped."""
    if not path.is_file():
        raise ArchiveError(f"{path}: no such file")
    out = ParsedArchive(path=path)
    try:
        _PARSERS[fmt or detect_format(path)](path, out, progress)
    except UnicodeDecodeError as exc:
        raise ArchiveError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    seen: set[str] = set()
    unique: list[PostRecord] = []
    for record in out.records:
        if record.tweet_id in seen:
            out.duplicates += 1
            continue
        seen.add(record.tweet_id)
        unique.append(record)
    out.records = unique
    return out
