"""The API refuses what the CLI refuses: whitespace-only texts to score, and labelled
samples that conflict (no model is needed for either check)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from musktracker.db.models import LabelledSample
from musktracker.db.session import session_scope
from tests.integration.api.conftest import Api, build_api


@pytest.fixture
def api(engine: Engine, db_url: str, tmp_path: Path) -> Iterator[Api]:
    yield from build_api(
        engine, db_url, mlflow_tracking_uri=str(tmp_path / "mlruns"),
        sentiment_model_name="api-validation-test",
    )


def test_blank_texts_are_a_422_naming_the_field(api: Api) -> None:
    for body, field in (
        ({"text": "   "}, "body.text"),
        ({"texts": ["fine", " \t "]}, "body.texts[1]"),
    ):
        answer = api.post("/v1/sentiment/predict", json=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["details"][0]["field"] == field


def test_conflicting_sample_labels_are_a_422_on_the_body(api: Api) -> None:
    stored = api.post("/v1/sentiment/samples", json=[{"text": "love it", "label": "positive"}])
    assert stored.status_code == 201, stored.text
    for samples in (
        [{"text": "dup", "label": "positive"}, {"text": "dup", "label": "negative"}],
        [{"text": "love it", "label": "negative"}],
    ):
        answer = api.post("/v1/sentiment/samples", json=samples)
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["details"][0]["field"] == "body"
        assert "label" in error["message"]


def test_sample_texts_that_cannot_be_stored_are_a_422_and_store_nothing(
    api: Api, engine: Engine
) -> None:
    """Whitespace is refused as the CLI refuses it; a NUL character, which PostgreSQL
    text cannot hold, is refused on every database instead of failing on one."""
    for text, problem in ((" \t ", "empty or only whitespace"), ("a\x00b", "NUL character")):
        samples = [{"text": "fine", "label": "positive"}, {"text": text, "label": "neutral"}]
        answer = api.post("/v1/sentiment/samples", json=samples)
        assert answer.status_code == 422, answer.text
        detail = answer.json()["error"]["details"][0]
        assert detail["field"] == "body[1].text" and problem in detail["message"]
        assert detail["value"] == text
    with session_scope(engine) as session:
        assert session.scalar(select(func.count()).select_from(LabelledSample)) == 0


def test_samples_are_read_as_the_cli_reads_a_file(api: Api, engine: Engine) -> None:
    """Labels in any case with stray spaces, and texts with surrounding whitespace, are the
    same samples the CLI stores from a file; an unknown label still names the choices."""
    first = api.post(
        "/v1/sentiment/samples",
        json=[{"text": " love it ", "label": " Positive"}, {"text": "meh", "label": "NEUTRAL"}],
    )
    assert first.status_code == 201, first.text
    assert first.json() == {"received": 2, "added": 2, "duplicates": 0}
    again = api.post("/v1/sentiment/samples", json=[{"text": "love it", "label": "positive"}])
    assert again.json() == {"received": 1, "added": 0, "duplicates": 1}
    with session_scope(engine) as session:
        stored = session.execute(select(LabelledSample.text, LabelledSample.label)).all()
    assert sorted(map(tuple, stored)) == [("love it", "positive"), ("meh", "neutral")]
    unknown = api.post("/v1/sentiment/samples", json=[{"text": "x", "label": "happy"}])
    assert unknown.status_code == 422
    detail = unknown.json()["error"]["details"][0]
    assert detail["field"] == "body[0].label" and "'positive'" in detail["message"]
