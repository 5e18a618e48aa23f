from pathlib import Path

import pytest

from musktracker.sentiment.data import (
    DEFAULT_SEED,
    MAX_TEXT_CHARS,
    LabelledTexts,
    SentimentDataError,
    check_texts,
    first_problem,
    read_labelled,
    read_texts,
)
from musktracker.sentiment.transformer import TrainConfig


def test_reads_the_real_dev_file(semeval_dev: Path):
    dev = read_labelled(semeval_dev)
    assert len(dev) == 1998
    assert dev.counts() == {"negative": 323, "neutral": 681, "positive": 994}


def test_years_come_from_the_source_file_names(semeval_train: Path, semeval_dev: Path):
    train = read_labelled(semeval_train)
    years = train.year_of_each()
    assert {y: years.count(y) for y in set(years)} == {
        2013: 14819, 2014: 1939, 2015: 2370, 2016: 28429
    }  # the rows per file in ../shared/data/sentiment/README.md, summed by year
    known = [y for y in years if y is not None]
    assert known == sorted(known) == years  # the shared file lists its files oldest first
    assert train.head(3).years == (2013, 2013, 2013)
    dev = read_labelled(semeval_dev)
    assert set(dev.year_of_each()) == {2016}  # twitter-2016devtest-A.txt


def test_a_sample_spans_every_year_in_file_order(semeval_train: Path):
    train = read_labelled(semeval_train)
    picked = train.sample(2000, seed=5)
    assert len(picked) == 2000 and picked == train.sample(2000, seed=5)  # seeded
    assert picked != train.sample(2000, seed=6)
    years = [y for y in picked.year_of_each() if y is not None]
    assert set(years) == {2013, 2014, 2015, 2016} and years == sorted(years)  # file order
    assert len(years) == 2000 and abs(years.count(2016) / 2000 - 28429 / len(train)) < 0.05
    row = train.texts.index(picked.texts[0])
    assert train.labels[row] == picked.labels[0]  # texts keep their own labels
    assert train.sample(None) is train and train.sample(len(train) + 1) is train


def test_added_samples_count_as_newer_than_the_training_file():
    train = LabelledTexts(["old", "older"], ["neutral", "negative"], (2016, 2013))
    samples = LabelledTexts(["fresh"], ["positive"])
    joined = train.followed_by(samples)
    assert joined.texts == ["old", "older", "fresh"] and joined.years == (2016, 2013, None)
    assert samples.followed_by(samples).years == ()  # no year known: nothing stored
    with pytest.raises(SentimentDataError, match=r"2 texts but 1 years"):
        LabelledTexts(["a", "b"], ["neutral", "neutral"], (2013,))


def test_unknown_label_names_file_line_and_value(tmp_path: Path):
    path = tmp_path / "bad.tsv"
    path.write_text("label\ttext\npositive\tfine\nhappy\tnope\n")
    with pytest.raises(SentimentDataError, match=r"bad.tsv:3: label: 'happy'"):
        read_labelled(path)


def test_missing_text_column_is_named(tmp_path: Path):
    path = tmp_path / "bad.tsv"
    path.write_text("label\tbody\npositive\tfine\n")
    with pytest.raises(SentimentDataError, match=r"'text' column"):
        read_labelled(path)


def test_empty_text_is_an_error(tmp_path: Path):
    path = tmp_path / "bad.tsv"
    path.write_text("label\ttext\nneutral\t  \n")
    with pytest.raises(SentimentDataError, match=r":2: text is empty"):
        read_labelled(path)


def test_texts_one_per_line_and_tsv_column(tmp_path: Path, semeval_dev: Path):
    plain = tmp_path / "texts.txt"
    plain.write_text("first\n\nsecond\n")
    assert read_texts(plain) == ["first", "second"]
    one_column = tmp_path / "export.tsv"  # a one-column export: its header is not a text
    one_column.write_text("Text\r\ngreat day\r\n\r\nawful\r\n")
    assert read_texts(one_column) == ["great day", "awful"]
    texts = read_texts(semeval_dev)
    assert len(texts) == 1998
    assert texts[0].startswith("@SeeMonterey LOST")
    assert read_texts(semeval_dev, "label")[0] == "neutral"
    with pytest.raises(SentimentDataError, match=r"--column: 'body'"):
        read_texts(semeval_dev, "body")


def test_a_file_that_is_not_utf8_names_the_file_and_line(tmp_path: Path):
    latin1 = tmp_path / "latin1.tsv"
    latin1.write_bytes(b"label\ttext\npositive\tfine\npositive\tcaf\xe9\n")
    expected = r"latin1.tsv:3: not UTF-8 \(byte 0xe9 at column 13\)"
    with pytest.raises(SentimentDataError, match=expected):
        read_labelled(latin1)
    plain = tmp_path / "latin1.txt"
    plain.write_bytes(b"caf\xe9 is great\n")
    with pytest.raises(SentimentDataError, match=r"latin1.txt:1: not UTF-8 \(byte 0xe9"):
        read_texts(plain)


def test_a_byte_order_mark_does_not_break_the_header(tmp_path: Path):
    path = tmp_path / "bom.tsv"
    path.write_bytes("label\ttext\r\npositive\tcafé\r\n".encode("utf-8-sig"))
    assert read_labelled(path) == LabelledTexts(["café"], ["positive"])
    assert read_texts(path) == ["café"]


def test_tsv_rows_to_score_are_checked_by_line(tmp_path: Path):
    ragged = tmp_path / "ragged.tsv"
    ragged.write_text("id\ttext\n1\tgreat\n2\n3\tok\n")
    with pytest.raises(SentimentDataError, match=r"ragged.tsv:3: expected 2 tab-separated fields"):
        read_texts(ragged)
    empty_field = tmp_path / "empty_field.tsv"
    empty_field.write_text("id\ttext\n1\t  \n")
    with pytest.raises(SentimentDataError, match=r"empty_field.tsv:2: text is empty"):
        read_texts(empty_field)
    # A tab-separated header without a text column is not scored line by line.
    no_text = tmp_path / "no_text.tsv"
    no_text.write_text("id\tbody\n1\tgreat\n")
    with pytest.raises(SentimentDataError, match=r"--column .*columns: id, body"):
        read_texts(no_text)
    assert read_texts(no_text, "body") == ["great"]


def test_errors_name_the_option_the_path_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    with pytest.raises(SentimentDataError, match=r"^--dev: file not found: \S+nope.tsv$"):
        read_labelled(tmp_path / "nope.tsv", "--dev")
    # A relative path (the defaults are) says which directory it was looked for from.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SentimentDataError) as missing:
        read_labelled(Path("../shared/dev.tsv"), "SENTIMENT_DEV_FILE")
    assert str(missing.value) == (
        f"SENTIMENT_DEV_FILE: file not found: ../shared/dev.tsv (relative to {tmp_path})"
    )
    with pytest.raises(SentimentDataError, match=r"^FILE: .* is a directory"):
        read_labelled(tmp_path, "FILE")


def test_blank_texts_are_named_by_position():
    assert check_texts(["fine", "ok"]) == ["fine", "ok"]
    with pytest.raises(SentimentDataError, match=r"^TEXT 2: empty or only whitespace$"):
        check_texts(["fine", "   "])
    assert first_problem(["a", "", "b"]) == (1, "empty or only whitespace")
    assert first_problem(["a"]) is None


def test_an_argument_that_is_not_utf8_is_named_by_its_byte():
    """The OS hands Python an argument's undecodable bytes as lone surrogates, which no
    cache key can hash: refused, naming the byte, before any model loads."""
    argument = b"caf\xe9 launch".decode("utf-8", "surrogateescape")
    with pytest.raises(
        SentimentDataError, match=r"^TEXT 2: not UTF-8 \(byte 0xe9 at character 4\)$"
    ):
        check_texts(["fine", argument])


def test_texts_longer_than_the_api_allows_are_refused_everywhere(tmp_path: Path):
    """The CLI takes what the API takes: a 10,001-character text is refused as an
    argument, as a line of a file and as a TSV field, naming where it is."""
    longest, too_long = "a" * MAX_TEXT_CHARS, "a" * (MAX_TEXT_CHARS + 1)
    assert check_texts([longest]) == [longest]
    with pytest.raises(
        SentimentDataError, match=r"^TEXT 2: 10,001 characters long; at most 10,000$"
    ):
        check_texts(["fine", too_long])
    plain = tmp_path / "plain.txt"
    plain.write_text(f"fine\n\n{too_long}\n")
    with pytest.raises(SentimentDataError, match=r"plain.txt:3: 10,001 characters long"):
        read_texts(plain)
    column = tmp_path / "column.tsv"
    column.write_text(f"id\ttext\n1\tfine\n2\t{too_long}\n")
    with pytest.raises(SentimentDataError, match=r"column.tsv:3: 10,001 characters long"):
        read_texts(column)


def test_the_default_draw_uses_the_default_seed(semeval_dev: Path):
    dev = read_labelled(semeval_dev)
    assert DEFAULT_SEED == TrainConfig("any").seed == 13
    assert dev.sample(300) == dev.sample(300, 13) != dev.sample(300, 0)
