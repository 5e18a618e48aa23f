"""Every setting MuskTracker reads, validated in one place.

Values come from the environment or a `.env` file in the working directory; secrets are
never given defaults. `.env.example` lists every variable with a comment.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///musktracker.db"


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

    # Worker and schedule (issue 7); times are UTC.
    worker_full_ingest_hour: int = Field(
        default=2, ge=0, le=23, description="Hour of the daily full ingestion."
    )
    worker_training_weekday: int = Field(
        default=6, ge=0, le=6, description="Day of the weekly training, 0=Monday..6=Sunday."
    )
    worker_training_hour: int = Field(default=3, ge=0, le=23, description="Hour of that training.")
    worker_hourly_minute: int = Field(
        default=5, ge=0, le=59, description="Minute of each hour for incremental work."
    )
    worker_task_time_limit: int = Field(
        default=3600, ge=1, description="Seconds after which a task is killed."
    )
    worker_visibility_timeout: int = Field(
        default=7200,
        ge=1,
        description="Seconds Redis waits for an ack before redelivering; above the task limit.",
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

    @model_validator(mode="after")
    def _visibility_above_time_limit(self) -> Settings:
        if self.worker_visibility_timeout <= self.worker_task_time_limit:
            raise ValueError(
                f"WORKER_VISIBILITY_TIMEOUT={self.worker_visibility_timeout} must exceed "
                f"WORKER_TASK_TIME_LIMIT={self.worker_task_time_limit}, or Redis redelivers "
                "tasks that are still running"
            )
        return self

    @property
    def cors_origins(self) -> list[str]:
        """API_CORS_ORIGINS as a list; empty means CORS stays off."""
        return [o.strip() for o in self.api_cors_origins.split(",") if o.strip()]

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
