"""Reading post archives: a `tweet_id,created_at` CSV, a plain list of ids, or the
`tweets.js` file of X's "Download your data" archive.

Parsing never touches the database. Every bad line is recorded with its line number and
reason, so the caller can refuse the whole file or import only the good lines.

Every post is checked for plausibility, not just syntax: its id must fit X's 64-bit
snowflakes, its time must lie between X's first post and now, and it must agree with the
time its id encodes (see `check_post`). A typo in a year would otherwise make buckets
and features for every hour up to that year.
"""

from __future__ import annotations

import csv
import enum
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from musktracker.db.models import PostKind
from musktracker.ingest.snowflake import FIRST_SNOWFLAKE_ID, snowflake_time
from musktracker.textfile import not_utf8
from musktracker.utc import FUTURE_TOLERANCE, parse_utc, utcnow

ProgressCallback = Callable[[int, int], None]
"""Called as progress(bytes_done, bytes_total) while a file is read."""


class ArchiveFormat(enum.StrEnum):
    CSV = "csv"
    IDS = "ids"
    X_ARCHIVE = "x-archive"


MAX_ID_DIGITS = 19
MAX_ID = 2**63 - 1
"""X ids are signed 64-bit snowflakes: at most 19 digits, at most 2**63 - 1."""
FIRST_POST_TIME = datetime(2006, 3, 21, tzinfo=UTC)
"""X's (Twitter's) first post; nothing can be older."""
SNOWFLAKE_START = snowflake_time(FIRST_SNOWFLAKE_ID)
"""When X switched to snowflake ids (2010-11-04); smaller ids are older than this."""
ID_TIME_TOLERANCE = timedelta(seconds=2)
"""How far created_at may be from the time its snowflake id encodes. In the real data
(posts.csv, 75,571 posts) they agree to the millisecond; X's archive format (tweets.js)
keeps whole seconds, so its times are up to 1 s earlier. 2 s allows that truncation and
any rounding, and is far below any real mistake (a wrong minute, hour, day or year)."""


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
    _first_seen: dict[str, tuple[int, PostRecord]] = field(default_factory=dict, repr=False)

    def add(self, line: int, record: PostRecord) -> None:
        """Keep a record; an exact repeat of an id is counted and dropped, a repeat with a
        different time or kind is a bad line (which of the two is right is unknowable)."""
        seen = self._first_seen.get(record.tweet_id)
        if seen is None:
            self._first_seen[record.tweet_id] = (line, record)
            self.records.append(record)
            return
        first_line, first = seen
        if first.created_at != record.created_at:
            raise ValueError(
                f"tweet_id {record.tweet_id} repeats line {first_line} with a different "
                f"created_at ({_iso(record.created_at)} here, {_iso(first.created_at)} there)"
            )
        if first.kind != record.kind:
            raise ValueError(
                f"tweet_id {record.tweet_id} repeats line {first_line} with a different kind "
                f"({record.kind.value} here, {first.kind.value} there)"
            )
        self.duplicates += 1

    def line_of(self, tweet_id: str) -> int:
        """The line (or entry) where `tweet_id` first appears."""
        return self._first_seen[tweet_id][0]

    def drop(self, bad: dict[str, str]) -> None:
        """Turn the records of these ids into bad lines (`bad`: id -> reason)."""
        self.records = [r for r in self.records if r.tweet_id not in bad]
        self.errors.extend(LineError(self.line_of(i), reason) for i, reason in bad.items())
        self.errors.sort(key=lambda e: e.line)

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
    value = int(text)
    if len(str(value)) > MAX_ID_DIGITS or value > MAX_ID:
        raise ValueError(
            f"tweet_id {raw!r} is too large for an X id (at most {MAX_ID_DIGITS} digits, "
            f"2**63-1 = {MAX_ID})"
        )
    return str(value)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_post(tweet_id: str, created_at: datetime, raw_time: str, now: datetime) -> None:
    """Refuse a post whose time cannot be right: in the future, before X's first post, or
    disagreeing with the time its snowflake id encodes (beyond ID_TIME_TOLERANCE). An id
    from before snowflakes encodes no time, but must then be older than snowflakes."""
    if created_at > now + FUTURE_TOLERANCE:
        raise ValueError(f"created_at {raw_time!r} is in the future (now is {_iso(now)})")
    if created_at < FIRST_POST_TIME:
        raise ValueError(
            f"created_at {raw_time!r} is before X's first post ({FIRST_POST_TIME:%Y-%m-%d})"
        )
    number = int(tweet_id)
    if number < FIRST_SNOWFLAKE_ID:
        if created_at > SNOWFLAKE_START + ID_TIME_TOLERANCE:
            raise ValueError(
                f"created_at {raw_time!r} is later than tweet_id {tweet_id} can be: ids below "
                f"{FIRST_SNOWFLAKE_ID} predate snowflake ids ({SNOWFLAKE_START:%Y-%m-%d})"
            )
        return
    encoded = snowflake_time(number)
    if abs(created_at - encoded) > ID_TIME_TOLERANCE:
        raise ValueError(
            f"created_at {raw_time!r} disagrees with tweet_id {tweet_id}, which encodes "
            f"{_iso(encoded)} (more than {ID_TIME_TOLERANCE.total_seconds():g} s apart)"
        )


def _kind(raw: str) -> PostKind:
    try:
        return PostKind(raw.strip().lower())
    except ValueError:
        allowed = ", ".join(k.value for k in PostKind)
        raise ValueError(f"kind {raw!r} is not one of {allowed}") from None


def _counted(
    handle: Iterable[str], total: int, progress: ProgressCallback | None, every: int = 5000
) -> Iterator[str]:
    """The handle's lines, reporting progress every `every` lines and at the end."""
    done = 0
    for number, line in enumerate(handle, start=1):
        done += len(line)
        if progress is not None and number % every == 0:
            progress(min(done, total), total)
        yield line
    if progress is not None:
        progress(total, total)


def _parse_csv(
    path: Path, out: ParsedArchive, progress: ProgressCallback | None, now: datetime
) -> None:
    """One csv.reader over the whole file, so quoted fields may hold newlines; a record's
    line number is the physical line it starts on."""
    total = path.stat().st_size
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        # strict: a quote never closed is an error, not a field swallowing the rest.
        reader = csv.reader(_counted(handle, total, progress), strict=True)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise ArchiveError(f"{path}: file is empty") from None
        except csv.Error as exc:
            raise ArchiveError(f"{path}: line 1: unreadable CSV header: {exc}") from None
        if "tweet_id" not in header or "created_at" not in header:
            raise ArchiveError(
                f"{path}: line 1: CSV header must name the columns tweet_id and created_at; "
                f"got {','.join(header)!r}"
            )
        id_col, time_col = header.index("tweet_id"), header.index("created_at")
        kind_col = header.index("kind") if "kind" in header else None
        text_col = header.index("text") if "text" in header else None
        while True:
            number = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                # The reader cannot go on past this (e.g. a quote never closed).
                raise ArchiveError(f"{path}: line {number}: malformed CSV: {exc}") from None
            if not any(cell.strip() for cell in cells):
                continue
            try:
                if len(cells) != len(header):
                    raise ValueError(f"expected {len(header)} columns, found {len(cells)}")
                tweet_id = _parse_id(cells[id_col])
                created_at = parse_utc(cells[time_col], "created_at")
                check_post(tweet_id, created_at, cells[time_col].strip(), now)
                out.add(
                    number,
                    PostRecord(
                        tweet_id=tweet_id,
                        created_at=created_at,
                        kind=_kind(cells[kind_col]) if kind_col is not None else PostKind.UNKNOWN,
                        text=cells[text_col] if text_col is not None else None,
                    ),
                )
            except ValueError as exc:
                out.errors.append(LineError(number, str(exc)))


def _parse_ids(
    path: Path, out: ParsedArchive, progress: ProgressCallback | None, now: datetime
) -> None:
    total = path.stat().st_size
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        for number, line in enumerate(_counted(handle, total, progress), start=1):
            text = line.strip()
            if not text or text.startswith("#") or text == "tweet_id":
                continue
            try:
                tweet_id = _parse_id(text)
                created_at = snowflake_time(int(tweet_id))
                if created_at > now + FUTURE_TOLERANCE:
                    raise ValueError(
                        f"tweet_id {text!r} encodes {_iso(created_at)}, which is in the future"
                    )
                out.add(number, PostRecord(tweet_id, created_at))
            except ValueError as exc:
                out.errors.append(LineError(number, str(exc)))


_ARCHIVE_TIME = "%a %b %d %H:%M:%S %z %Y"  # "Wed Oct 10 20:19:24 +0000 2018"


def _archive_record(entry: object, now: datetime) -> PostRecord:
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
    check_post(tweet_id, created_at, raw_time, now)
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


PROGRESS_EVERY_ENTRIES = 500


def _parse_x_archive(
    path: Path, out: ParsedArchive, progress: ProgressCallback | None, now: datetime
) -> None:
    """Decode the array entry by entry. Line numbers are counted incrementally from the
    previous entry (linear in the file), and progress is reported while decoding."""
    total = path.stat().st_size
    text = path.read_text(encoding="utf-8-sig")
    scale = total / max(len(text), 1)  # characters -> bytes, for a bar measured in bytes
    if progress is not None:
        progress(0, total)
    start = text.find("[")
    if start < 0 or not text[:start].strip().rstrip("=").strip().startswith("window.YTD"):
        raise ArchiveError(
            f"{path}: line 1: not an X archive tweets.js (expected 'window.YTD.tweets.part0 = [')"
        )
    decoder = json.JSONDecoder()
    pos = start + 1
    line, counted_to = 1, 0  # `line` is the line number at offset `counted_to`
    entries = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            raise ArchiveError(f"{path}: the JSON array is not closed with ']'")
        if text[pos] == "]":
            break
        line += text.count("\n", counted_to, pos)
        counted_to = pos
        try:
            entry, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise ArchiveError(f"{path}: line {exc.lineno}: malformed JSON: {exc.msg}") from None
        try:
            out.add(line, _archive_record(entry, now))
        except ValueError as exc:
            out.errors.append(LineError(line, str(exc)))
        entries += 1
        if progress is not None and entries % PROGRESS_EVERY_ENTRIES == 0:
            progress(min(int(pos * scale), total), total)
    if progress is not None:
        progress(total, total)


_PARSERS = {
    ArchiveFormat.CSV: _parse_csv,
    ArchiveFormat.IDS: _parse_ids,
    ArchiveFormat.X_ARCHIVE: _parse_x_archive,
}


def parse_archive(
    path: Path,
    fmt: ArchiveFormat | None = None,
    progress: ProgressCallback | None = None,
    now: datetime | None = None,
) -> ParsedArchive:
    """Read every post of `path`; bad lines are collected in `errors`, exact repeats
    dropped (counted in `duplicates`), and a repeat that disagrees is a bad line.

    `now` (default: the current time) is what "in the future" is measured against."""
    if not path.is_file():
        raise ArchiveError(f"{path}: no such file")
    out = ParsedArchive(path=path)
    try:
        _PARSERS[fmt or detect_format(path)](path, out, progress, now or utcnow())
    except UnicodeDecodeError:
        raise ArchiveError(str(not_utf8(path))) from None
    out.errors.sort(key=lambda e: e.line)
    return out
