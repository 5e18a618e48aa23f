"""Labels and the files they come in: labelled TSVs (SemEval layout) and plain text lists."""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from musktracker.textfile import NotUtf8Error, decode_utf8

LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
LABEL_INDEX = {label: i for i, label in enumerate(LABELS)}
DEFAULT_SEED = 13
"""The default seed of training and of the --max-train draw (TrainConfig.seed)."""
MAX_TEXT_CHARS = 10_000
"""The longest text scored or stored as a sample, on the CLI and the API alike. The model
reads only a text's first max-length tokens (64 by default, a tweet's worth); the rest of a
longer text is not scored, and a text this long is more likely a wrong file or column."""


class SentimentDataError(ValueError):
    """A data file or value cannot be used; the message names the file, line and value."""


def first_line(exc: BaseException) -> str:
    """The first line of `exc`'s message (its type when it has none): the library errors
    wrapped into a SentimentDataError run to many lines, and the CLI prints one."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")


def _known(years: list[int | None]) -> tuple[int | None, ...]:
    """`years` as stored: empty when none is known."""
    return tuple(years) if any(y is not None for y in years) else ()


@dataclass(frozen=True)
class LabelledTexts:
    """Texts with their gold labels, in the same order.

    `years`: the year each text was written, when known (None: unknown, taken as newer than
    every known year); empty when no row has one. Training reads older years first.
    """

    texts: list[str]
    labels: list[str]
    years: tuple[int | None, ...] = ()

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise SentimentDataError(
                f"{len(self.texts)} texts but {len(self.labels)} labels; they must match"
            )
        if self.years and len(self.years) != len(self.texts):
            raise SentimentDataError(
                f"{len(self.texts)} texts but {len(self.years)} years; they must match"
            )

    def year_of_each(self) -> list[int | None]:
        return list(self.years) if self.years else [None] * len(self.texts)

    def followed_by(self, newer: LabelledTexts) -> LabelledTexts:
        """These rows, then `newer`'s (labelled samples come after the training file)."""
        years = self.year_of_each() + newer.year_of_each()
        return LabelledTexts(self.texts + newer.texts, self.labels + newer.labels, _known(years))

    def __len__(self) -> int:
        return len(self.texts)

    def label_ids(self) -> list[int]:
        return [LABEL_INDEX[label] for label in self.labels]

    def head(self, n: int | None) -> LabelledTexts:
        """The first `n` rows (all when `n` is None)."""
        if n is None:
            return self
        return LabelledTexts(self.texts[:n], self.labels[:n], self.years[:n])

    def sample(self, n: int | None, seed: int = DEFAULT_SEED) -> LabelledTexts:
        """`n` rows drawn at random (seeded) and kept in file order; all when `n` is None.

        A quick model on a subset should see every year and label of the file, not only its
        first rows (the shared training file starts with 9,649 tweets of 2013).
        """
        if n is None or n >= len(self):
            return self
        keep = sorted(random.Random(seed).sample(range(len(self)), n))
        years = tuple(self.years[i] for i in keep) if self.years else ()
        return LabelledTexts([self.texts[i] for i in keep], [self.labels[i] for i in keep], years)

    def counts(self) -> dict[str, int]:
        counted = Counter(self.labels)
        return {label: counted.get(label, 0) for label in LABELS}


def check_label(label: str, where: str = "label") -> str:
    """The label in canonical form, or an error naming it."""
    clean = label.strip().lower()
    if clean not in LABEL_INDEX:
        raise SentimentDataError(f"{where}: {label!r} is not one of {', '.join(LABELS)}")
    return clean


def _header(path: Path, first_line: str) -> list[str]:
    columns = [c.strip().lower() for c in first_line.rstrip("\n").split("\t")]
    for needed in ("label", "text"):
        if needed not in columns:
            raise SentimentDataError(
                f"{path}: the header needs a {needed!r} column (tab-separated); got {columns}"
            )
    return columns


def _read_lines(path: Path, what: str) -> list[str]:
    """The lines of a UTF-8 file (a byte-order mark is dropped), without line ends; a file
    that is missing or not UTF-8 is an error naming the option, the file and the line."""
    if path.is_dir():
        raise SentimentDataError(f"{what}: {path} is a directory, not a file")
    if not path.is_file():
        # The defaults are relative (../shared/data/...): say where they were looked for.
        where = "" if path.is_absolute() else f" (relative to {Path.cwd()})"
        raise SentimentDataError(f"{what}: file not found: {path}{where}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SentimentDataError(f"{what}: cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = decode_utf8(path, raw)
    except NotUtf8Error as exc:
        raise SentimentDataError(str(exc)) from None
    # Universal newlines, as text-mode open() reads them (\r\n, \r or \n).
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def read_labelled(path: Path, what: str = "--data") -> LabelledTexts:
    """Read a tab-separated UTF-8 file with a header holding `label` and `text` columns.

    The SemEval files are unquoted, with no tab or newline inside a field, so each line is
    split on tabs; an empty text or an unknown label is an error naming the line. With a
    `source_file` column (the shared SemEval file), the year in each row's file name
    (twitter-2013train-A.txt: 2013) becomes its year. `what` names the option or setting
    the path came from, for the error messages.
    """
    lines = _read_lines(path, what)
    if not lines:
        raise SentimentDataError(f"{path}: the file is empty")
    columns = _header(path, lines[0])
    text_at, label_at = columns.index("text"), columns.index("label")
    source_at = columns.index("source_file") if "source_file" in columns else None
    texts: list[str] = []
    labels: list[str] = []
    years: list[int | None] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(columns):
            raise SentimentDataError(
                f"{path}:{number}: expected {len(columns)} tab-separated fields, got {len(fields)}"
            )
        text = fields[text_at].strip()
        if not text:
            raise SentimentDataError(f"{path}:{number}: text is empty")
        labels.append(check_label(fields[label_at], f"{path}:{number}: label"))
        texts.append(text)
        year = YEAR.search(fields[source_at]) if source_at is not None else None
        years.append(int(year.group()) if year else None)
    if not texts:
        raise SentimentDataError(f"{path}: no labelled rows after the header")
    return LabelledTexts(texts, labels, _known(years))


def read_texts(path: Path, column: str | None = None) -> list[str]:
    """Texts to score: one per line (blank lines skipped), or a column of a TSV with a
    header (the named `column`, else `text`). A first line with tabs but no `text` column
    needs `column`: its lines are not scored whole, header included. A first line that is
    `text` alone is a one-column header (a spreadsheet's export), not a text to score. An
    empty field, or a row too short to hold the column, is an error naming the line."""
    lines = _read_lines(path, "--file")
    first = [c.strip().lower() for c in lines[0].split("\t")] if lines else []
    if column is None and (len(first) > 1 or first == ["text"]):
        if "text" not in first:
            raise SentimentDataError(
                f"--file: {path} looks tab-separated but its header has no 'text' column; "
                f"pick one with --column (columns: {', '.join(first)})"
            )
        column = "text"
    numbered: list[tuple[int, str]] = []
    if column is None:
        numbered = [(n, line.strip()) for n, line in enumerate(lines, start=1) if line.strip()]
    else:
        if column.strip().lower() not in first:
            raise SentimentDataError(
                f"--column: {column!r} is not in the header of {path} "
                f"(columns: {', '.join(first)})"
            )
        at = first.index(column.strip().lower())
        for number, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) <= at:
                raise SentimentDataError(
                    f"{path}:{number}: expected {len(first)} tab-separated fields, got "
                    f"{len(fields)}"
                )
            text = fields[at].strip()
            if not text:
                raise SentimentDataError(f"{path}:{number}: {column} is empty")
            numbered.append((number, text))
    for number, text in numbered:
        if len(text) > MAX_TEXT_CHARS:
            raise SentimentDataError(f"{path}:{number}: {too_long(text)}")
    texts = [text for _, text in numbered]
    if not texts:
        raise SentimentDataError(f"--file: {path} holds no text")
    return texts


def too_long(text: str) -> str:
    return f"{len(text):,} characters long; at most {MAX_TEXT_CHARS:,}"


def text_problem(text: str) -> str | None:
    """What makes `text` unusable, or None. Empty or whitespace-only: it carries no
    sentiment. Longer than MAX_TEXT_CHARS. Not UTF-8: a command-line argument's undecodable
    byte arrives as a lone surrogate (Python's surrogateescape), which no cache key, JSON
    answer or database can hold (the API refuses lone surrogates before a route runs; files
    are decoded strictly)."""
    if not text.strip():
        return "empty or only whitespace"
    if len(text) > MAX_TEXT_CHARS:
        return too_long(text)
    for at, char in enumerate(text, start=1):
        if 0xDC80 <= ord(char) <= 0xDCFF:
            return f"not UTF-8 (byte 0x{ord(char) - 0xDC00:02x} at character {at})"
    return None


def first_problem(texts: list[str]) -> tuple[int, str] | None:
    """The index of the first unusable text and why (`text_problem`), if any: the CLI and
    the API refuse such a text rather than score it."""
    return next(
        ((i, problem) for i, text in enumerate(texts) if (problem := text_problem(text))), None
    )


def check_texts(texts: list[str], where: str = "TEXT") -> list[str]:
    """`texts` unchanged, or an error naming the first unusable one, counted from 1
    ("TEXT 2: empty or only whitespace")."""
    found = first_problem(texts)
    if found is not None:
        raise SentimentDataError(f"{where} {found[0] + 1}: {found[1]}")
    return texts
