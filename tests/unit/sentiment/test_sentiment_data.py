from pathlib import Path

import pytest

from musktracker.sentiment.data import SentimentDataError, read_labelled, read_texts


def test_reads_the_real_dev_file(semeval_dev: Path):
    dev = read_labelled(semeval_dev)
    assert len(dev) == 1998
    assert dev.counts() == {"negative": 323, "neutral": 681, "positive": 994}


def test_unknown_label_names_file_line_and_value(tmp_path: Path):
    path = tmp_path / "bad.tsv"
    path.write_text("label\ttext\npositive\tfine\nhappy\tnope\n")
    with pytest.raises(SentimentDataError, match=r"bad.tsv:3: label: 'happy'"):
        read_labelled(path)


def test_missing_text_column_is_named(tmp_path: Path):
    path = tmp_path / "bad.tsv"
    path.write_text("label\tbody\npositive\tfine\n")
    with pytest.raises(SentimentDataError, match="'text' column"):
        read_labelled(path)


def test_empty_text_is_an_error(tmp_path: Path):
    path = tmp_path / "bad.tsv"
    path.write_text("label\ttext\nneutral\t  \n")
    with pytest.raises(SentimentDataError, match=":2: text is empty"):
        read_labelled(path)


def test_texts_one_per_line_and_tsv_column(tmp_path: Path, semeval_dev: Path):
    plain = tmp_path / "texts.txt"
    plain.write_text("first\n\nsecond\n")
    assert read_texts(plain) == ["first", "second"]
    texts = read_texts(semeval_dev)
    assert len(texts) == 1998
    assert texts[0].startswith("@SeeMonterey LOST")
    assert read_texts(semeval_dev, "label")[0] == "neutral"
    with pytest.raises(SentimentDataError, match="--column: 'body'"):
        read_texts(semeval_dev, "body")
