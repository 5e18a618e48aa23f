"""Files that are not UTF-8: every reader names the line, column and value of the first bad byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from musktracker.ingest.archive import ArchiveError, ArchiveFormat, parse_archive
from musktracker.sentiment.data import SentimentDataError, read_texts
from musktracker.textfile import NotUtf8Error, decode_utf8, read_utf8


def test_the_first_bad_byte_is_named_by_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"fine\nalso fine\nna\xefve \xff\n")
    with pytest.raises(NotUtf8Error, match=r"a.txt:3: not UTF-8 \(byte 0xef at column 3\)"):
        read_utf8(path)


def test_a_byte_order_mark_is_dropped_and_not_counted(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    assert decode_utf8(path, b"\xef\xbb\xbfok\n") == "ok\n"
    with pytest.raises(NotUtf8Error, match=r"bom.txt:1: not UTF-8 \(byte 0xff at column 3\)"):
        decode_utf8(path, b"\xef\xbb\xbfok\xff\n")


def test_a_streamed_archive_names_the_real_line_deep_in_the_file(
    posts_sample: Path, tmp_path: Path
) -> None:
    """The CSV reader decodes in chunks: its own error offset is within a chunk, not the file."""
    real = posts_sample.read_bytes()
    assert len(real) > 100_000  # many decoding chunks before the bad line
    path = tmp_path / "posts.csv"
    path.write_bytes(real + b"1900000000000000001,2025-01-01T00:00:00Z\xff\n")
    bad_line = real.count(b"\n") + 1
    with pytest.raises(
        ArchiveError, match=rf"posts.csv:{bad_line}: not UTF-8 \(byte 0xff at column 41\)"
    ):
        parse_archive(path, ArchiveFormat.CSV)


def test_labelled_text_files_say_the_same(tmp_path: Path) -> None:
    path = tmp_path / "texts.txt"
    path.write_bytes(b"good\nbad \xe9\n")
    with pytest.raises(
        SentimentDataError, match=r"texts.txt:2: not UTF-8 \(byte 0xe9 at column 5\)"
    ):
        read_texts(path)
