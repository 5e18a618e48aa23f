from pathlib import Path

import pytest

from musktracker.sentiment.data import (
    LabelledTexts,
    SentimentDataError,
    read_labelled,
    read_texts,
)


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
    with pytest.raises(SentimentDataError, match="2 texts but 1 years"):
        LabelledTexts(["a", "b"], ["neutral", "neutral"], (2013,))


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
