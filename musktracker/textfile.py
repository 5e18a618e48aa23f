"""The UTF-8 text files users hand over (archives, signal rules, event files, labelled tweets).

One wording for a file that is not UTF-8, naming the line, column and value of its first bad
byte so the user can find it in an editor. The position is taken from the whole file's bytes:
a streaming decoder's error only knows its offset within the chunk it was decoding.
"""

from __future__ import annotations

from pathlib import Path


class NotUtf8Error(ValueError):
    """A file that is not UTF-8 text; the message says where."""


def _where(path: Path, exc: UnicodeDecodeError) -> NotUtf8Error:
    data = bytes(exc.object)  # the bytes after any byte-order mark, which exc.start counts in
    line = data.count(b"\n", 0, exc.start) + 1
    column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
    return NotUtf8Error(
        f"{path}:{line}: not UTF-8 (byte 0x{data[exc.start]:02x} at column {column}); "
        "save the file as UTF-8"
    )


def decode_utf8(path: Path, raw: bytes) -> str:
    """`raw` (read from `path`) as text, a byte-order mark dropped."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _where(path, exc) from None


def read_utf8(path: Path) -> str:
    """The text of `path`; OSError when it cannot be read, NotUtf8Error naming the bad byte."""
    return decode_utf8(path, path.read_bytes())


def not_utf8(path: Path) -> NotUtf8Error:
    """The error for a file whose streaming read raised UnicodeDecodeError, located exactly."""
    try:
        read_utf8(path)
    except NotUtf8Error as exc:
        return exc
    return NotUtf8Error(f"{path}: not UTF-8; save the file as UTF-8")
