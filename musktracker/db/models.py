"""The schema: the original design's tables, extended for many accounts and post kinds.

Every per-account table carries `account_id`, and it is part of every unique key, so the
same code serves one account or many. Every write is safe to repeat thanks to those keys.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from musktracker.db.types import UTCDateTime
from musktracker.utc import utcnow

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class PostKind(enum.StrEnum):
    """What a post is, from X's `referenced_tweets` (or an archive's equivalent)."""

    ORIGINAL = "original"
    REPLY = "reply"
    QUOTE = "quote"
    REPOST = "repost"
    UNKNOWN = "unknown"


class Granularity(enum.StrEnum):
    """Width of a time bucket."""

    HOURLY = "hourly"
    DAILY = "daily"


_KIND_VALUES = ", ".join(f"'{k.value}'" for k in PostKind)


class Base(DeclarativeBase):
    """Declarative base of every table."""


class Account(Base):
    """A tracked X account. `username` is stored lower-case (X handles ignore case)."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(15), nullable=False, unique=True)
    x_user_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class RawTweet(Base):
    """One post's metadata. Text is kept only when STORE_POST_TEXT is on."""

    __tablename__ = "raw_tweets"
    __table_args__ = (
        UniqueConstraint("account_id", "tweet_id", name="uq_raw_tweets_account_tweet"),
        CheckConstraint(f"kind IN ({_KIND_VALUES})", name="ck_raw_tweets_kind"),
        Index("idx_created_at_not_deleted", "account_id", "created_at", "is_deleted"),
        Index("ix_raw_tweets_tweet_id", "tweet_id"),
        Index("ix_raw_tweets_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    tweet_id: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default=PostKind.UNKNOWN.value)
    source: Mapped[str] = mapped_column(String(32), nullable=False)
    ingest_time: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    is_deleted: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    text: Mapped[str | None] = mapped_column(Text)


class TimeBucket(Base):
    """Post counts of one account in one UTC hour or day, split by post kind.

    `tweet_count` counts every kind; the per-kind columns let any counting rule be a sum.
    Buckets with zero posts are stored: a missing bucket means "not computed", never zero.
    """

    __tablename__ = "time_buckets"
    __table_args__ = (
        UniqueConstraint("account_id", "granularity", "bucket_start", name="uq_bucket_granularity"),
        Index("idx_bucket_start_granularity", "bucket_start", "granularity"),
        CheckConstraint("granularity IN ('hourly', 'daily')", name="ck_time_buckets_granularity"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    bucket_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    bucket_end: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    granularity: Mapped[str] = mapped_column(String(16), nullable=False)
    tweet_count: Mapped[int] = mapped_column(Integer, nullable=False)
    original_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    reply_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    quote_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    repost_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    unknown_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class ExogenousEvent(Base):
    """An outside event that may move posting volume. `account_id` NULL means every account."""

    __tablename__ = "exogenous_events"
    __table_args__ = (
        Index("idx_event_time_range", "event_start", "event_end"),
        CheckConstraint("intensity >= 0 AND intensity <= 1", name="ck_events_intensity"),
        CheckConstraint("event_end > event_start", name="ck_events_end_after_start"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(256), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(64))
    event_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    event_end: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    intensity: Mapped[float] = mapped_column(Float, nullable=False)
    source: Mapped[str] = mapped_column(String(64), nullable=False, default="manual")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class Feature(Base):
    """Model inputs at one hourly reference time, for one account and counting rule.

    A row at reference time t describes the hour [t, t+1h) using only buckets that ended at
    or before t (see features/build.py).
    """

    __tablename__ = "features"
    __table_args__ = (
        UniqueConstraint(
            "account_id", "count_rule", "reference_time", name="uq_features_account_rule_time"
        ),
        Index("idx_reference_time", "reference_time"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    count_rule: Mapped[str] = mapped_column(String(64), nullable=False, default="all")
    reference_time: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    lag_1h: Mapped[int | None] = mapped_column(Integer)
    lag_6h: Mapped[int | None] = mapped_column(Integer)
    lag_12h: Mapped[int | None] = mapped_column(Integer)
    lag_24h: Mapped[int | None] = mapped_column(Integer)
    lag_7d: Mapped[int | None] = mapped_column(Integer)
    rolling_mean_24h: Mapped[float | None] = mapped_column(Float)
    rolling_std_24h: Mapped[float | None] = mapped_column(Float)
    rolling_mean_7d: Mapped[float | None] = mapped_column(Float)
    rolling_std_7d: Mapped[float | None] = mapped_column(Float)
    hour_of_day: Mapped[int] = mapped_column(Integer, nullable=False)
    day_of_week: Mapped[int] = mapped_column(Integer, nullable=False)
    is_weekend: Mapped[bool] = mapped_column(Boolean, nullable=False)
    event_intensity: Mapped[float] = mapped_column(Float, nullable=False)
    events_in_window: Mapped[int] = mapped_column(Integer, nullable=False)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class ModelMetadata(Base):
    """One trained model version with its training span, hyperparameters and metrics."""

    __tablename__ = "model_metadata"
    __table_args__ = (
        Index("idx_model_name_version", "model_name", "model_version"),
        # migration 0007: one row per forecast fit, so concurrent forecasts share it
        Index("uq_model_metadata_fit_key", "account_id", "fit_key", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    model_name: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    model_version: Mapped[str] = mapped_column(String(32), nullable=False)
    trained_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    training_start_date: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    training_end_date: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    hyperparameters: Mapped[str | None] = mapped_column(Text)
    rmse: Mapped[float | None] = mapped_column(Float)
    mae: Mapped[float | None] = mapped_column(Float)
    mape: Mapped[float | None] = mapped_column(Float)
    log_likelihood: Mapped[float | None] = mapped_column(Float)
    artifact_path: Mapped[str | None] = mapped_column(String(512))
    # Backtest summary (migration 0002_volume): proper scores and 7-day/window-total errors.
    crps: Mapped[float | None] = mapped_column(Float)
    log_score: Mapped[float | None] = mapped_column(Float)
    coverage_95: Mapped[float | None] = mapped_column(Float)
    total_mae: Mapped[float | None] = mapped_column(Float)
    total_crps: Mapped[float | None] = mapped_column(Float)
    fit_seconds: Mapped[float | None] = mapped_column(Float)
    backtest_windows: Mapped[int | None] = mapped_column(Integer)
    # Forecast fits (migration 0007): model, training span and hyperparameters, hashed;
    # NULL for backtest rows.
    fit_key: Mapped[str | None] = mapped_column(String(64))


class Forecast(Base):
    """A predicted count for one target hour, with its 95% bounds and, later, the actual."""

    __tablename__ = "forecasts"
    __table_args__ = (
        UniqueConstraint(
            "model_metadata_id", "forecast_time", "target_time", name="uq_forecasts_model_times"
        ),
        Index("idx_forecast_target", "forecast_time", "target_time"),
        Index("ix_forecasts_target_time", "target_time"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    model_metadata_id: Mapped[int] = mapped_column(
        ForeignKey("model_metadata.id", ondelete="CASCADE"), nullable=False, index=True
    )
    forecast_time: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    target_time: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    predicted_count: Mapped[float] = mapped_column(Float, nullable=False)
    lower_bound_95: Mapped[float | None] = mapped_column(Float)
    upper_bound_95: Mapped[float | None] = mapped_column(Float)
    actual_count: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class IngestState(Base):
    """Where ingestion of one account from one endpoint stands, to resume after a crash."""

    __tablename__ = "ingest_state"
    __table_args__ = (
        UniqueConstraint("account_id", "endpoint", name="uq_ingest_state_account_endpoint"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    endpoint: Mapped[str] = mapped_column(String(64), nullable=False)
    newest_id: Mapped[str | None] = mapped_column(String(64))
    oldest_id: Mapped[str | None] = mapped_column(String(64))
    pagination_token: Mapped[str | None] = mapped_column(String(256))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


# --- Signals (issue 6): events, scored signals, the delivery outbox, provider cache, dedup ---


class OutboxStatus(enum.StrEnum):
    """Where one notification stands: waiting, being sent, delivered, retrying or given up."""

    PENDING = "pending"
    SENDING = "sending"
    DONE = "done"
    FAILED = "failed"
    DLQ = "dlq"


class SignalState(enum.StrEnum):
    """How far a signal is trusted: new, confirmed by live data, or marked down by risk."""

    CANDIDATE = "candidate"
    VERIFIED = "verified"
    DOWNGRADED = "downgraded"


# JSON documents: JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JSONB = JSON().with_variant(postgresql.JSONB(), "postgresql")
_OUTBOX_VALUES = ", ".join(f"'{s.value}'" for s in OutboxStatus)
_STATE_VALUES = ", ".join(f"'{s.value}'" for s in SignalState)


class SignalEvent(Base):
    """One thing that happened (a token mentioned, a volume burst...), with its evidence.

    Repeated evidence for the same `event_key` updates the row and increments the count.
    """

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_key: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    type: Mapped[str] = mapped_column(String(50), nullable=False)
    symbol: Mapped[str | None] = mapped_column(String(20))
    token_ca: Mapped[str | None] = mapped_column(String(100))
    chain: Mapped[str | None] = mapped_column(String(20))
    summary: Mapped[str] = mapped_column(Text, nullable=False)
    evidence: Mapped[list[dict[str, object]]] = mapped_column(JSONB, nullable=False)
    start_ts: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_ts: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    evidence_count: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


class Signal(Base):
    """The latest score of one event: its state, risk level and the features it was scored on."""

    __tablename__ = "signals"
    __table_args__ = (CheckConstraint(f"state IN ({_STATE_VALUES})", name="ck_signals_state"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    event_key: Mapped[str] = mapped_column(
        ForeignKey("events.event_key", ondelete="CASCADE"), nullable=False, unique=True
    )
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    risk_level: Mapped[str] = mapped_column(String(20), nullable=False)
    reasons: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    features_snapshot: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class PushOutbox(Base):
    """One message to deliver to one channel; written in the signal's own transaction."""

    __tablename__ = "push_outbox"
    __table_args__ = (
        UniqueConstraint("channel", "event_key", name="uq_push_outbox_channel_event"),
        CheckConstraint(f"status IN ({_OUTBOX_VALUES})", name="ck_push_outbox_status"),
        Index("ix_push_outbox_status_due", "status", "next_retry_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32), nullable=False)
    event_key: Mapped[str] = mapped_column(String(255), nullable=False)
    idempotency_key: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, default=OutboxStatus.PENDING.value
    )
    retry_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_retry_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OnchainFeature(Base):
    """The last answer of one enrichment provider for one token: a cache and a fallback."""

    __tablename__ = "onchain_features"
    __table_args__ = (
        UniqueConstraint("provider", "chain", "token_ca", name="uq_onchain_provider_token"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(32), nullable=False)
    chain: Mapped[str] = mapped_column(String(20), nullable=False)
    token_ca: Mapped[str] = mapped_column(String(100), nullable=False)
    features: Mapped[dict[str, object]] = mapped_column(JSONB, nullable=False)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class DedupKey(Base):
    """A seen source id (kind 'id') or text fingerprint (kind 'text', with its four 16-bit
    bands, each indexed for near-duplicate lookup), kept until `expires_at`. Used when no
    Redis is configured."""

    __tablename__ = "signal_dedup_keys"
    __table_args__ = (UniqueConstraint("kind", "key", name="uq_signal_dedup_kind_key"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    band_0: Mapped[str | None] = mapped_column(String(4), index=True)
    band_1: Mapped[str | None] = mapped_column(String(4), index=True)
    band_2: Mapped[str | None] = mapped_column(String(4), index=True)
    band_3: Mapped[str | None] = mapped_column(String(4), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)


class SignalCheckpoint(Base):
    """How far a polling signal source has read (e.g. the last raw_tweets id it processed)."""

    __tablename__ = "signal_checkpoints"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[str] = mapped_column(String(64), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class BacktestResult(Base):
    """One model's scores on one rolling-backtest window (see evaluation/backtest.py)."""

    __tablename__ = "backtest_results"
    __table_args__ = (
        UniqueConstraint("run_id", "model_name", "window_start", name="uq_backtest_window"),
        Index("idx_backtest_account_model_end", "account_id", "model_name", "window_end"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    model_metadata_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_metadata.id", ondelete="SET NULL")
    )
    run_id: Mapped[str] = mapped_column(String(32), nullable=False)
    model_name: Mapped[str] = mapped_column(String(64), nullable=False)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    train_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    rmse: Mapped[float] = mapped_column(Float, nullable=False)
    mae: Mapped[float] = mapped_column(Float, nullable=False)
    mape: Mapped[float] = mapped_column(Float, nullable=False)
    crps: Mapped[float] = mapped_column(Float, nullable=False)
    log_score: Mapped[float] = mapped_column(Float, nullable=False)
    coverage_95: Mapped[float] = mapped_column(Float, nullable=False)
    total_actual: Mapped[int] = mapped_column(Integer, nullable=False)
    total_mean: Mapped[float] = mapped_column(Float, nullable=False)
    total_mae: Mapped[float] = mapped_column(Float, nullable=False)
    total_mape: Mapped[float] = mapped_column(Float, nullable=False)
    total_crps: Mapped[float] = mapped_column(Float, nullable=False)
    total_coverage_95: Mapped[float] = mapped_column(Float, nullable=False)
    fit_seconds: Mapped[float] = mapped_column(Float, nullable=False)
    after_regime_shift: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class RegimeShift(Base):
    """A detected lasting change in posting level (see evaluation/regimes.py)."""

    __tablename__ = "regime_shifts"
    __table_args__ = (
        UniqueConstraint("account_id", "rule", "count_rule", "change_at", name="uq_regime_shift"),
        CheckConstraint("direction IN ('up', 'down')", name="ck_regime_shifts_direction"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    rule: Mapped[str] = mapped_column(String(32), nullable=False)
    count_rule: Mapped[str] = mapped_column(String(64), nullable=False)
    change_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    direction: Mapped[str] = mapped_column(String(8), nullable=False)
    level_before: Mapped[float | None] = mapped_column(Float)
    level_after: Mapped[float | None] = mapped_column(Float)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class ApiKey(Base):
    """An API key, stored only as a SHA-256 hash; `prefix` finds it without scanning.

    `scopes` is a comma list of read, write and admin; a revoked key stays for the record.
    """

    __tablename__ = "api_keys"
    __table_args__ = (
        UniqueConstraint("name", name="uq_api_keys_name"),
        UniqueConstraint("prefix", name="uq_api_keys_prefix"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    scopes: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


SENTIMENT_CHAMPION_STATUS = "champion"
"""`sentiment_models.status` of the version the champion alias points at (the others are
'available'); here so that readers of the mirror need not import the sentiment stack."""


class SentimentModelVersion(Base):
    """A mirror of one registered MLflow version of the sentiment model (MLflow is the
    source of truth; `musktracker sentiment models` refreshes this table from it)."""

    __tablename__ = "sentiment_models"
    __table_args__ = (
        UniqueConstraint("model_name", "version", name="uq_sentiment_models_name_version"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    model_name: Mapped[str] = mapped_column(String(128), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    run_id: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    base_model: Mapped[str] = mapped_column(String(512), nullable=False)
    dev_macro_recall: Mapped[float | None] = mapped_column(Float)
    dev_accuracy: Mapped[float | None] = mapped_column(Float)
    dev_macro_f1: Mapped[float | None] = mapped_column(Float)
    train_seconds: Mapped[float | None] = mapped_column(Float)
    n_train: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class SentimentPrediction(Base):
    """The sentiment of one post by one model version. Text only with STORE_POST_TEXT;
    the word count is kept instead so input drift can be measured without text."""

    __tablename__ = "sentiment_predictions"
    __table_args__ = (
        UniqueConstraint(
            "account_id", "tweet_id", "model_version", name="uq_sentiment_predictions_post"
        ),
        CheckConstraint(
            "label IN ('negative', 'neutral', 'positive')", name="ck_sentiment_predictions_label"
        ),
        Index("ix_sentiment_predictions_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
    )
    tweet_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    label: Mapped[str] = mapped_column(String(16), nullable=False)
    p_negative: Mapped[float] = mapped_column(Float, nullable=False)
    p_neutral: Mapped[float] = mapped_column(Float, nullable=False)
    p_positive: Mapped[float] = mapped_column(Float, nullable=False)
    confidence: Mapped[float] = mapped_column(Float, nullable=False)
    n_words: Mapped[int] = mapped_column(Integer, nullable=False)
    model_version: Mapped[str] = mapped_column(String(32), nullable=False)
    text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class LabelledSample(Base):
    """A human-labelled text for future training; each distinct text is kept once."""

    __tablename__ = "labelled_samples"
    __table_args__ = (
        CheckConstraint(
            "label IN ('negative', 'neutral', 'positive')", name="ck_labelled_samples_label"
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    text_sha256: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    label: Mapped[str] = mapped_column(String(16), nullable=False)
    source: Mapped[str] = mapped_column(String(256), nullable=False)
    used_in_training: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class RetrainDecision(Base):
    """One `check-retrain`: trigger values, and if a challenger was trained, both scores."""

    __tablename__ = "retrain_decisions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    triggers: Mapped[str] = mapped_column(Text, nullable=False)
    fired: Mapped[str | None] = mapped_column(String(256))
    champion_version: Mapped[int | None] = mapped_column(Integer)
    challenger_version: Mapped[int | None] = mapped_column(Integer)
    champion_macro_recall: Mapped[float | None] = mapped_column(Float)
    challenger_macro_recall: Mapped[float | None] = mapped_column(Float)
    promoted: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


# No id is ever handed out twice, so an id kept outside its row (in the API, a checkpoint,
# an artifact folder, a running process) never comes to name another row. PostgreSQL's
# identity sequences never reuse one; SQLite needs AUTOINCREMENT (migrations 0008, 0009).
for _table in Base.metadata.tables.values():
    _table.dialect_options["sqlite"]["autoincrement"] = True

