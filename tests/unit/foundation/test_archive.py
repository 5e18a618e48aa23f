from __future__ import annotations

import json
from pathlib import Path

import pytest

from musktracker.db.models import PostKind
from musktracker.ingest.archive import ArchiveError, ArchiveFormat, detect_format, parse_archive
from musktracker.utc import parse_utc


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
    path.write_text(
        "tweet_id,created_at,kind\n1,2024-01-01T00:00:00Z,reply\n2,2024-01-01T00:00:01Z,bogus\n"
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
