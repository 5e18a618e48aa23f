import argparse

import pytest

from benchmarks.sentiment_train_speed import _positive


def test_train_speed_counts_must_be_positive():
    assert _positive("2") == 2
    for bad in ("0", "-1", "abc"):
        with pytest.raises(argparse.ArgumentTypeError):
            _positive(bad)
