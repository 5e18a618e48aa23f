"""Sentiment: label texts with the serving champion, show which model serves, collect
labelled feedback and start a retraining. Each route calls the same code as the CLI
(`sentiment predict --json`, `sentiment models`, `sentiment add-samples`,
`sentiment check-retrain --force`), so answers match."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Body, Depends, Query, Request, Response
from pydantic import BaseModel, BeforeValidator, Field
from starlette.concurrency import run_in_threadpool

from musktracker.api.auth import require
from musktracker.api.cache import cached_json
from musktracker.api.errors import ApiError, field_error, field_path
from musktracker.api.routing import keyed_router
from musktracker.api.schemas import ErrorBody
from musktracker.api.services import services
from musktracker.security.apikeys import Scope
from musktracker.sentiment.data import (
    LABEL_INDEX,
    MAX_TEXT_CHARS,
    LabelledTexts,
    SentimentDataError,
    first_problem,
)
from musktracker.sentiment.samples import MAX_SOURCE

router = keyed_router(prefix="/v1/sentiment", tags=["sentiment"])

MAX_PREDICT_TEXTS = 256
MAX_SAMPLES = 1000

Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS)]
Label = Literal["negative", "neutral", "positive"]


def _canonical_label(value: object) -> object:
    """A label as `sentiment add-samples` reads a file's: "Positive " is positive. Anything
    else is left for the Literal to refuse with the list of labels."""
    if isinstance(value, str) and value.strip().lower() in LABEL_INDEX:
        return value.strip().lower()
    return value


SampleLabel = Annotated[Label, BeforeValidator(_canonical_label)]
UNAVAILABLE: dict[int | str, dict[str, object]] = {
    503: {"model": ErrorBody, "description": "No sentiment model can serve yet."}
}


class PredictRequest(BaseModel):
    """Exactly one of `text` or `texts`."""

    text: Text | None = None
    texts: list[Text] | None = Field(
        None, description=f"Up to {MAX_PREDICT_TEXTS} texts; more is a 413."
    )


class SentimentPredictionOut(BaseModel):
    text: str
    label: Label
    probabilities: dict[str, float]
    confidence: float
    model_version: str


class PredictResponse(BaseModel):
    predictions: list[SentimentPredictionOut]


class SentimentModelOut(BaseModel):
    model_name: str
    version: int
    alias: Literal["champion"] = "champion"
    kind: str
    base_model: str
    run_id: str
    dev_macro_recall: float | None
    dev_accuracy: float | None
    dev_macro_f1: float | None
    train_seconds: float | None
    n_train: int | None
    created_at: datetime


class SampleIn(BaseModel):
    text: Text
    label: SampleLabel


class SamplesAdded(BaseModel):
    received: int
    added: int
    duplicates: int


class RetrainStarted(BaseModel):
    id: str = Field(description="Celery task id when queued, else the retrain decision id.")
    status: Literal["queued", "finished"]
    decision_id: int | None = None
    challenger_version: int | None = None
    promoted: bool | None = None
    reason: str | None = None


def _no_model(exc: SentimentDataError) -> ApiError:
    return ApiError(503, f"no sentiment model can serve: {exc}", code="model_unavailable")


@router.post(
    "/predict",
    response_model=PredictResponse,
    dependencies=[Depends(require(Scope.WRITE))],
    responses=UNAVAILABLE,
    summary=f"Label one text or a batch of up to {MAX_PREDICT_TEXTS} with the champion",
)
def predict(request: Request, body: PredictRequest) -> PredictResponse:
    if (body.text is None) == (body.texts is None):
        raise field_error("body", "send exactly one of `text` (a string) or `texts` (a list)")
    texts = [body.text] if body.text is not None else list(body.texts or [])
    if not texts:
        raise field_error("body.texts", "must hold at least one text")
    found = first_problem(texts)  # the CLI's check: whitespace carries no sentiment
    if found is not None:
        at, problem = found
        field = "body.text" if body.text is not None else field_path(["body", "texts", at])
        raise field_error(field, problem, texts[at])
    if len(texts) > MAX_PREDICT_TEXTS:
        raise ApiError(
            413,
            f"body.texts: {len(texts)} texts in one request; at most {MAX_PREDICT_TEXTS}",
            details=[{"field": "body.texts", "limit": MAX_PREDICT_TEXTS, "got": len(texts)}],
        )
    try:
        predictions = services(request).sentiment_predictor().predict(texts)
    except SentimentDataError as exc:
        raise _no_model(exc) from None
    return PredictResponse(
        predictions=[
            SentimentPredictionOut.model_validate({"text": text, **p.to_dict()})
            for text, p in zip(texts, predictions, strict=True)
        ]
    )


@router.get(
    "/model",
    response_model=SentimentModelOut,
    dependencies=[Depends(require(Scope.READ))],
    responses={404: {"model": ErrorBody}},
    summary="The serving (champion) model: version, kind and dev metrics",
)
async def model(request: Request) -> Response:
    from musktracker.sentiment.registry import CHAMPION_STATUS, list_versions

    svc = services(request)
    name = svc.settings.sentiment_model_name

    def produce() -> SentimentModelOut:
        champions = [
            v for v in list_versions(svc.engine, name) if v.status == CHAMPION_STATUS
        ]
        if not champions:
            raise ApiError(
                404, f"no champion of {name!r} yet: train one with `musktracker sentiment train`"
            )
        return SentimentModelOut.model_validate(champions[-1], from_attributes=True)

    return await cached_json(request, svc.cache, produce)


@router.post(
    "/samples",
    response_model=SamplesAdded,
    status_code=201,
    dependencies=[Depends(require(Scope.WRITE))],
    summary=f"Store up to {MAX_SAMPLES} labelled samples for the next retraining",
)
def add_samples(
    request: Request,
    samples: list[SampleIn] = Body(..., description=f"1 to {MAX_SAMPLES} samples."),
    source: str = Query(
        "api", min_length=1, max_length=MAX_SOURCE, description="Where they came from."
    ),
) -> SamplesAdded:
    from musktracker.sentiment.samples import LabelConflictError, SampleTextError
    from musktracker.sentiment.samples import add_samples as store_samples

    if not samples:
        raise field_error("body", "expected a non-empty list of {text, label} objects")
    if len(samples) > MAX_SAMPLES:
        raise ApiError(
            413,
            f"body: {len(samples)} samples in one request; at most {MAX_SAMPLES}",
            details=[{"field": "body", "limit": MAX_SAMPLES, "got": len(samples)}],
        )
    # Stripped as `sentiment add-samples` strips a file's fields: " ok " and "ok" are one
    # sample, whichever way they arrived.
    labelled = LabelledTexts([s.text.strip() for s in samples], [s.label for s in samples])
    try:
        added = store_samples(services(request).engine, labelled, source)
    except LabelConflictError as exc:
        raise field_error("body", str(exc)) from None
    except SampleTextError as exc:
        at = exc.index
        raise field_error(field_path(["body", at, "text"]), exc.problem, samples[at].text) from None
    except SentimentDataError as exc:
        raise field_error("query.source", str(exc).removeprefix("source: "), source) from None
    return SamplesAdded(received=added.read, added=added.added, duplicates=added.duplicates)


@router.post(
    "/retrain",
    response_model=RetrainStarted,
    status_code=202,
    dependencies=[Depends(require(Scope.WRITE))],
    responses={
        201: {"model": RetrainStarted, "description": "Ran here (no broker)."},
        409: {"model": ErrorBody, "description": "A retraining is already queued or running."},
    },
    summary="Train a challenger: queued on the worker, or run here without a broker",
)
async def retrain(request: Request, response: Response) -> RetrainStarted:
    from musktracker.worker.jobs import SENTIMENT_RETRAIN
    from musktracker.worker.sentiment_jobs import (
        RETRAIN_LOCK_KEY,
        RetrainBusyError,
        retrain_sentiment,
        retraining_running,
    )

    svc = services(request)
    settings = svc.settings
    busy = "a retraining is already {}; ask again when it has finished"
    if svc.redis is not None:
        from musktracker.worker.celery_app import create_celery

        task_id = uuid.uuid4().hex
        lock_seconds = settings.worker_task_time_limit
        if not await svc.redis.set(RETRAIN_LOCK_KEY, task_id, nx=True, ex=lock_seconds):
            running = await svc.redis.get(RETRAIN_LOCK_KEY)
            task = running.decode() if isinstance(running, bytes) else running or "finishing"
            raise ApiError(409, busy.format(f"queued or running (task {task})"))
        try:
            # One started without the key (`sentiment check-retrain`) holds only the lock.
            if await run_in_threadpool(retraining_running, svc.engine):
                raise ApiError(409, busy.format("running on this database"))
            await run_in_threadpool(
                lambda: create_celery(settings).send_task(SENTIMENT_RETRAIN, task_id=task_id)
            )
        except Exception:
            await svc.redis.delete(RETRAIN_LOCK_KEY)
            raise
        return RetrainStarted(id=task_id, status="queued")
    try:
        outcome = await run_in_threadpool(retrain_sentiment, settings)
    except RetrainBusyError:  # in any process on this database: the worker, the CLI, here
        raise ApiError(409, busy.format("running on this database")) from None
    except SentimentDataError as exc:
        raise ApiError(503, f"cannot retrain: {exc}", code="model_unavailable") from None
    response.status_code = 201
    return RetrainStarted(
        id=str(outcome["decision_id"]),
        status="finished",
        decision_id=outcome["decision_id"],
        challenger_version=outcome["challenger_version"],
        promoted=outcome["promoted"],
        reason=outcome["reason"],
    )
