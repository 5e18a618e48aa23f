"""Request and response bodies of the API (pydantic), shared by every router."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class ErrorDetail(BaseModel):
    code: str = Field(examples=["validation_error"])
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """Every error, whatever its status."""

    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str] = Field(
        description="Each dependency: 'ok', 'not configured' or why not; for the sentiment "
        "model 'not registered', 'loading', 'loaded: version N' or 'failed: ...'."
    )


class AccountOut(BaseModel):
    id: int
    username: str
    x_user_id: str | None
    created_at: datetime


class AccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(description="X handle, with or without '@'.", examples=["elonmusk"])
    x_user_id: str | None = Field(
        default=None,
        pattern=r"^[0-9]{1,32}$",
        description="Numeric X user id, if known.",
        examples=["44196397"],
    )


class AccountRemovedOut(BaseModel):
    account: str = Field(description="The handle no longer tracked.")
    id: int = Field(description="Its former account id.")
    deleted_rows: dict[str, int] = Field(
        description="Rows deleted per table that refers to accounts (docs/SCHEMA.md), zeros "
        "included: raw_tweets, time_buckets, features, exogenous_events (its own only), "
        "model_metadata, forecasts, backtest_results, regime_shifts, sentiment_predictions, "
        "ingest_state."
    )
    artifacts_deleted: int = Field(description="Model artifact files deleted.")
    artifacts_kept: int = Field(description="Artifact files another account's fits also name.")
    artifacts_failed: int = Field(
        description="Artifact files that could not be deleted (named in the server log)."
    )


class CountBucket(BaseModel):
    start: datetime = Field(description="Bucket start (UTC); the bucket is [start, start+1h|1d).")
    count: int


class CountsOut(BaseModel):
    account: str
    granularity: Literal["hour", "day"]
    kinds: str = Field(description="Counting rule: 'all' or the post kinds counted.")
    start: datetime
    end: datetime
    total: int
    buckets: list[CountBucket] = Field(
        description="Stored buckets whose start is in [start, end); hours without posts are "
        "listed with 0, hours never computed are absent."
    )


class _Strict(BaseModel):
    # The forecast routes send the CLI's JSON as it is; these models document it in OpenAPI,
    # and the tests validate real answers against them, so a key added on one side fails.
    model_config = ConfigDict(extra="forbid")


class ForecastHour(_Strict):
    target_time: datetime = Field(description="Start of the forecast hour (UTC).")
    mean: float
    lower_95: float
    upper_95: float
    quantiles: dict[str, float] = Field(
        description="23 levels: 0.01, 0.025, 0.05, 0.1 to 0.9 in steps of 0.05, 0.95, 0.975, "
        "0.99 (keys as written, e.g. '0.025')."
    )


class HourlyForecastOut(_Strict):
    account: str
    model: str = Field(description="The model that produced it (`best` resolved).")
    as_of: datetime = Field(description="Start of the first forecast hour.")
    hours: list[ForecastHour]


class WindowSpan(_Strict):
    start: datetime
    end: datetime


class BracketOut(_Strict):
    low: int = Field(description="Lowest count in the bracket (inclusive).")
    high: int | None = Field(description="Highest count (inclusive); null for the open top.")
    probability: float


class WindowForecastOut(_Strict):
    account: str
    model: str | None = Field(
        description="The model that forecast the rest (`best` resolved); null for a window "
        "that is over, all of it observed."
    )
    as_of: datetime = Field(description="Posts before this moment are counted as observed.")
    window: WindowSpan
    observed: int = Field(description="Posts already counted in the window.")
    mean: float
    quantiles: dict[str, float] = Field(description="Levels 0.05, 0.25, 0.5, 0.75, 0.95.")
    brackets: list[BracketOut] = Field(
        description="Probabilities with four decimals that add up to exactly 1."
    )


class EventCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(examples=["Tesla Q4 Earnings"])
    start: AwareDatetime = Field(examples=["2025-01-29T21:00:00Z"])
    end: AwareDatetime = Field(examples=["2025-01-29T23:00:00Z"])
    intensity: float = Field(description="How strong, from 0.0 to 1.0.", examples=[0.8])
    category: str | None = Field(default=None, examples=["market"])
    description: str | None = None
    source: str = "manual"
    account: str | None = Field(
        default=None, description="Only for this account; absent: applies to every account."
    )


class EventOut(BaseModel):
    id: int
    name: str
    description: str | None
    category: str | None
    start: datetime
    end: datetime
    intensity: float
    source: str
    account: str | None
    created_at: datetime


class ModelMetrics(BaseModel):
    rmse: float | None
    mae: float | None
    mape: float | None
    log_likelihood: float | None
    crps: float | None = Field(None, description="Mean CRPS over the backtest windows.")
    log_score: float | None = None
    coverage_95: float | None = Field(None, description="Share of hours inside the 95% band.")
    total_mae: float | None = Field(None, description="MAE of the window totals.")
    total_crps: float | None = None
    fit_seconds: float | None = None
    backtest_windows: int | None = None


class ModelOut(BaseModel):
    id: int
    account: str
    model_name: str
    model_version: str
    trained_at: datetime
    training_start: datetime
    training_end: datetime
    hyperparameters: Any = Field(description="As stored: parsed JSON, or the raw text.")
    metrics: ModelMetrics


class SignalEventOut(BaseModel):
    id: int
    event_key: str
    type: str
    symbol: str | None
    token_ca: str | None
    chain: str | None
    summary: str
    evidence: list[dict[str, Any]]
    start_ts: datetime
    last_ts: datetime
    evidence_count: int


class SignalOut(BaseModel):
    id: int
    event_key: str
    state: str
    score: float
    risk_level: str
    reasons: list[str]
    features_snapshot: dict[str, Any]
    ts: datetime


class EventsPage(BaseModel):
    items: list[SignalEventOut]
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page; null on the last.")


class SignalsPage(BaseModel):
    items: list[SignalOut]
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page; null on the last.")


class IngestResult(BaseModel):
    received: int
    stored: int
    outbox_rows: int
    dropped: dict[str, int]
    scores: dict[str, float] = Field(description="Score of every stored event, by event key.")
