from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from musktracker.db.models import PostKind
from musktracker.ingest.archive import ArchiveError, ArchiveFormat, detect_format, parse_archive
from musktracker.ingest.snowflake import snowflake_floor
from musktracker.utc import parse_utc


def sid(stamp: str) -> str:
    """The snowflake id that encodes exactly this time."""
    return str(snowflake_floor(parse_utc(stamp)) + 1)


def test_real_csv_parses_completely(posts_sample: Path) -> None:
    parsed = parse_archive(posts_sample)
    assert len(parsed.records) == 3000 and not parsed.errors
    first = parsed.records[0]
    assert first.tweet_id == "1587442891894538240"
    assert first.created_at == parse_utc("2022-11-01T13:54:13.347Z")


def test_bad_lines_are_reported_with_line_numbers(posts_sample: Path, tmp_path: Path) -> None:
    lines = posts_sample.read_text().splitlines()
    lines[10] = lines[10].split(",")[0] + ",2022-13-45T99:00:00Z"
    lines[20] = "12ab34," + lines[20].split(",")[1]
    lines[30] = lines[30].split(",")[0] + ",2022-11-02 10:00:00"
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    parsed = parse_archive(bad)
    assert [e.line for e in parsed.errors] == [11, 21, 31]
    assert "created_at '2022-13-45T99:00:00Z' is not an ISO 8601 time" in parsed.errors[0].reason
    assert "tweet_id '12ab34' is not a numeric id" in parsed.errors[1].reason
    assert "has no time zone" in parsed.errors[2].reason
    assert len(parsed.records) == 2997
    assert "line 11" in parsed.describe_errors()


def test_csv_without_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("1587442891894538240,2022-11-01T13:54:13.347Z\n")
    with pytest.raises(ArchiveError, match="line 1: CSV header must name"):
        parse_archive(path)


def test_csv_with_kind_column(tmp_path: Path) -> None:
    path = tmp_path / "k.csv"
    a, b = sid("2024-01-01T00:00:00Z"), sid("2024-01-01T00:00:01Z")
    path.write_text(
        f"tweet_id,created_at,kind\n{a},2024-01-01T00:00:00Z,reply\n"
        f"{b},2024-01-01T00:00:01Z,bogus\n"
    )
    parsed = parse_archive(path)
    assert parsed.records[0].kind is PostKind.REPLY
    assert parsed.errors[0].line == 3 and "kind 'bogus'" in parsed.errors[0].reason


def test_ids_format_derives_time_and_skips_repeats(posts_sample: Path, tmp_path: Path) -> None:
    ids = [line.split(",")[0] for line in posts_sample.read_text().splitlines()[1:101]]
    path = tmp_path / "ids.txt"
    path.write_text("\n".join([*ids, ids[0], "", "# comment"]) + "\n")
    parsed = parse_archive(path)
    assert detect_format(path) is ArchiveFormat.IDS
    assert len(parsed.records) == 100 and parsed.duplicates == 1
    assert parsed.records[0].created_at == parse_utc("2022-11-01T13:54:13.347Z")


def _tweet(id_str: str, created: str, text: str, **extra: str) -> dict[str, object]:
    return {"tweet": {"id_str": id_str, "created_at": created, "full_text": text, **extra}}


def test_x_archive_tweets_js(tmp_path: Path) -> None:
    entries = [
        _tweet("1587442891894538240", "Tue Nov 01 13:54:13 +0000 2022", "hello"),
        _tweet("1587446533724803072", "Tue Nov 01 14:08:41 +0000 2022", "RT @a: hi"),
        _tweet(
            "1587484312076779520",
            "Tue Nov 01 16:38:48 +0000 2022",
            "@a yes",
            in_reply_to_status_id_str="1",
        ),
        _tweet("1587498907336118274", "not a time", "x"),
    ]
    path = tmp_path / "tweets.js"
    path.write_text("window.YTD.tweets.part0 = " + json.dumps(entries, indent=2))
    parsed = parse_archive(path)
    kinds = [r.kind for r in parsed.records]
    assert kinds == [PostKind.ORIGINAL, PostKind.REPOST, PostKind.REPLY]
    assert parsed.records[0].text == "hello"
    assert len(parsed.errors) == 1 and "created_at 'not a time'" in parsed.errors[0].reason
    assert parsed.errors[0].line > 1


def test_x_archive_malformed_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "tweets.js"
    path.write_text('window.YTD.tweets.part0 = [\n {"tweet": {"id_str": "1",}\n]')
    with pytest.raises(ArchiveError, match="line 2: malformed JSON"):
        parse_archive(path)


def _csv(tmp_path: Path, *rows: str, header: str = "tweet_id,created_at") -> Path:
    path = tmp_path / "posts.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_implausible_times_and_ids_are_bad_lines(tmp_path: Path) -> None:
    real = "1587442891894538297"  # encodes 2022-11-01T13:54:13.xxxZ
    path = _csv(
        tmp_path,
        f"{real},2206-02-28T10:00:00Z",  # a typo in the year: the id says 2022
        f"{real[:-1]}8,9999-12-31T23:00:00Z",  # beyond what datetime arithmetic can bucket
        "20,2005-01-01T00:00:00Z",  # before X existed
        "99999999999999999999999,2022-11-01T13:54:13Z",  # 23 digits
        "9223372036854775808,2022-11-01T13:54:13Z",  # 2**63: 19 digits, still too large
        f"{sid('2022-11-01T13:54:13Z')},2022-11-01T13:59:13Z",  # five minutes off the id
        "12345,2024-01-01T00:00:00Z",  # a pre-snowflake id cannot be from 2024
        f"{sid('2022-11-01T13:54:13.900Z')},2022-11-01T13:54:13Z",  # truncated second: fine
        "12346,2009-06-01T00:00:00Z",  # a pre-snowflake id from its own era: fine
    )
    parsed = parse_archive(path, now=parse_utc("2026-01-01T00:00:00Z"))
    reasons = {e.line: e.reason for e in parsed.errors}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8]
    assert "created_at '2206-02-28T10:00:00Z' is in the future" in reasons[2]
    assert "created_at '9999-12-31T23:00:00Z' is in the future" in reasons[3]
    assert "created_at '2005-01-01T00:00:00Z' is before X's first post" in reasons[4]
    assert "tweet_id '99999999999999999999999' is too large" in reasons[5]
    assert "tweet_id '9223372036854775808' is too large" in reasons[6]
    assert "created_at '2022-11-01T13:59:13Z' disagrees with tweet_id" in reasons[7]
    assert "2022-11-01T13:54:13.000Z" in reasons[7]
    assert "later than tweet_id 12345 can be" in reasons[8]
    assert len(parsed.records) == 2


def test_a_past_time_that_disagrees_with_its_id_is_refused(tmp_path: Path) -> None:
    path = _csv(tmp_path, "1587442891894538297,2021-11-01T13:54:13Z")
    parsed = parse_archive(path)
    assert parsed.errors[0].line == 2
    assert "disagrees with tweet_id 1587442891894538297, which encodes 2022-11-01T13:54:13" in (
        parsed.errors[0].reason
    )


def test_ids_format_refuses_ids_from_the_future_and_too_long(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_text(f"{sid('2030-01-01T00:00:00Z')}\n123456789012345678901\n")
    parsed = parse_archive(path, now=parse_utc("2026-01-01T00:00:00Z"))
    assert [e.line for e in parsed.errors] == [1, 2]
    assert "encodes 2030-01-01T00:00:00.000Z, which is in the future" in parsed.errors[0].reason
    assert "too large" in parsed.errors[1].reason


def test_x_archive_checks_time_against_id(tmp_path: Path) -> None:
    entries = [
        _tweet("1587442891894538240", "Tue Nov 01 13:54:13 +0000 2022", "right"),
        _tweet("1587446533724803072", "Tue Nov 01 14:08:41 +0000 2222", "typo"),
    ]
    path = tmp_path / "tweets.js"
    path.write_text("window.YTD.tweets.part0 = " + json.dumps(entries, indent=2))
    parsed = parse_archive(path)
    assert [r.text for r in parsed.records] == ["right"]
    assert "created_at 'Tue Nov 01 14:08:41 +0000 2222' is in the future" in (
        parsed.errors[0].reason
    )


def test_quoted_newlines_in_csv_text(tmp_path: Path) -> None:
    a, b, c = (sid(f"2022-11-05T1{h}:00:00Z") for h in (0, 1, 2))
    path = _csv(
        tmp_path,
        f'{a},2022-11-05T10:00:00Z,original,"line one\nline two"',
        f'{b},2022-11-05T11:00:00Z,reply,"a, b"',
        f'{c},2022-11-05T12:00:00Z,bogus,"three\nphysical\nlines"',
        f"{a}x,2022-11-05T10:00:00Z,original,after",
        header="tweet_id,created_at,kind,text",
    )
    parsed = parse_archive(path)
    assert [r.text for r in parsed.records] == ["line one\nline two", "a, b"]
    # A record's line is the physical line it starts on.
    assert [(e.line, e.reason.split()[0]) for e in parsed.errors] == [(5, "kind"), (8, "tweet_id")]


def test_unclosed_quote_names_the_line(tmp_path: Path) -> None:
    """An open quote must not swallow the following lines into one text field."""
    a, b = sid("2022-11-05T10:00:00Z"), sid("2022-11-05T11:00:00Z")
    path = _csv(
        tmp_path,
        f'{a},2022-11-05T10:00:00Z,"open',
        f"{b},2022-11-05T11:00:00Z,closed",
        header="tweet_id,created_at,text",
    )
    with pytest.raises(ArchiveError, match="line 2: malformed CSV"):
        parse_archive(path)


def test_repeats_that_disagree_are_bad_lines(tmp_path: Path) -> None:
    a = "1587442891894538400"
    path = _csv(
        tmp_path,
        f"{a},2022-11-01T13:54:13.388Z,original",
        f"{a},2022-11-01T13:54:13.388Z,original",  # an exact repeat: dropped, counted
        f"{a},2022-11-01T13:54:14.388Z,original",  # another time (within the id tolerance)
        f"{a},2022-11-01T13:54:13.388Z,reply",  # another kind
        header="tweet_id,created_at,kind",
    )
    parsed = parse_archive(path)
    assert len(parsed.records) == 1 and parsed.duplicates == 1
    assert [e.line for e in parsed.errors] == [4, 5]
    assert "repeats line 2 with a different created_at" in parsed.errors[0].reason
    assert "repeats line 2 with a different kind (reply here, original there)" in (
        parsed.errors[1].reason
    )


def _big_archive(path: Path, n: int) -> None:
    first = parse_utc("2022-01-01T00:00:00Z")
    entries = []
    for i in range(n):
        stamp = first.timestamp() + 420 * i
        moment = time.strftime("%a %b %d %H:%M:%S +0000 %Y", time.gmtime(stamp))
        tweet_id = sid(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp)))
        entries.append(_tweet(tweet_id, moment, f"post {i} " + "words " * 60, lang="en"))
    path.write_text("window.YTD.tweets.part0 = " + json.dumps(entries, indent=2))


def test_x_archive_parses_in_linear_time_and_reports_progress(tmp_path: Path) -> None:
    """20,000 entries (about 14 MB) took over a minute when every entry's line number was
    counted from the start of the file; linear parsing takes well under a second."""
    path = tmp_path / "tweets.js"
    _big_archive(path, 20_000)
    calls: list[tuple[int, int]] = []
    started = time.process_time()
    parsed = parse_archive(path, progress=lambda done, total: calls.append((done, total)))
    elapsed = time.process_time() - started
    assert len(parsed.records) == 20_000 and not parsed.errors
    assert elapsed < 10, f"parsing took {elapsed:.1f} s of CPU"
    total = path.stat().st_size
    assert calls[-1] == (total, total)
    done = [d for d, _ in calls]
    assert len(calls) > 10 and done == sorted(done)  # the bar moves while parsing
    assert done[len(done) // 2] < total


def test_x_archive_line_numbers_stay_exact(tmp_path: Path) -> None:
    entries = [
        _tweet(sid(f"2022-11-0{d}T10:00:00Z"), f"Tue Nov 0{d} 10:00:00 +0000 2022", "x")
        for d in range(1, 6)
    ]
    entries[3]["tweet"]["created_at"] = "bad"  # type: ignore[index]
    path = tmp_path / "tweets.js"
    text = "window.YTD.tweets.part0 = " + json.dumps(entries, indent=2)
    path.write_text(text)
    parsed = parse_archive(path)
    expected = text[: text.index('"bad"')].count("\n") + 1
    entry_start = text.rfind("{\n", 0, text.rfind('"tweet"', 0, text.index('"bad"')))
    assert parsed.errors[0].line == text[:entry_start].count("\n") + 1
    assert parsed.errors[0].line < expected
