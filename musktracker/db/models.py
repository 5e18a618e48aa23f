"""The schema: the original design's tables, extended for many accounts and post kinds.

Every per-account table carries `account_id`, and it is part of every unique key, so the
same code serves one account or many. Every write is safe to repeat thanks to those keys.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
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
    __table_args__ = (Index("idx_model_name_version", "model_name", "model_version"),)

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
