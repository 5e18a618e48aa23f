"""The one event shape every source produces and every stage reads.

Sources normalize whatever they read into `RawEvent` (validated by pydantic, so a bad
inbound line names its field); stages then fill in the derived fields of `PipelineEvent`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from musktracker.signals.features import data_problem
from musktracker.utc import FUTURE_TOLERANCE, ensure_utc, utcnow

EventType = Literal["post", "volume_burst", "regime_shift", "sentiment_swing", "external"]
EARLIEST_YEAR, LATEST_YEAR = 2006, 2100
"""Event times accepted: X (and so any post) did not exist before 2006; later than 2100 is
a typo or a placeholder, not an event."""
INBOUND: dict[str, bool] = {"inbound": True}
"""Validation context of events from other producers (`inbound_event`)."""
DataValue = float | int | str | bool | None


class RawEvent(BaseModel):
    """What a source hands to the pipeline: who said or measured what, and when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9_.-]+$")
    source_id: str = Field(min_length=1, max_length=128)
    type: EventType = "external"
    created_at: datetime
    account: str | None = Field(default=None, max_length=64)
    text: str = Field(default="", max_length=10_000)
    url: str | None = Field(default=None, max_length=2048)
    symbol: str | None = Field(default=None, max_length=20)
    token_ca: str | None = Field(default=None, max_length=100)
    chain: str | None = Field(default=None, max_length=20)
    sentiment: float | None = Field(default=None, ge=-1.0, le=1.0)
    data: dict[str, DataValue] = Field(default_factory=dict)

    @field_validator("created_at")
    @classmethod
    def _aware_utc(cls, value: datetime, info: ValidationInfo) -> datetime:
        """UTC, within the years events exist; from another producer, not in the future
        (beyond the clock skew archive import allows too): an event dated tomorrow topped
        `GET /v1/events` until then and was grouped under the wrong day."""
        moment = ensure_utc(value, "created_at")
        if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
            raise ValueError(f"created_at must be in the years {EARLIEST_YEAR}..{LATEST_YEAR}")
        if info.context == INBOUND:
            now = utcnow()
            if moment > now + FUTURE_TOLERANCE:
                minutes = FUTURE_TOLERANCE.total_seconds() / 60
                raise ValueError(
                    f"created_at is in the future (now is {now:%Y-%m-%dT%H:%M:%SZ}; "
                    f"{minutes:g} minutes of clock skew are allowed)"
                )
        return moment

    @field_validator("data", mode="before")
    @classmethod
    def _features(cls, value: object) -> object:
        """Each value is a JSON scalar that fits its feature (`features.data_problem`); the
        error names the key, so it reads `data.dex_liquidity` in the CLI and the API (not
        `data.x.float`, a branch of the type union)."""
        if not isinstance(value, dict):
            return value  # pydantic says "should be a valid dictionary"
        for name, item in value.items():
            problem = data_problem(str(name), item)
            if problem is None and not (item is None or isinstance(item, float | int | str)):
                problem = "must be a number, a string, true/false or null"
            if problem is not None:
                detail = InitErrorDetails(
                    type=PydanticCustomError("feature_value", problem),
                    loc=(name,),
                    input=item,
                )
                raise ValidationError.from_exception_data(cls.__name__, [detail])
        return value

    @field_validator("account")
    @classmethod
    def _handle(cls, value: str | None) -> str | None:
        return value.lstrip("@").lower() if value else value


def inbound_event(data: object) -> RawEvent:
    """An event from another producer (a `signals ingest` line, an API body): a RawEvent
    that is not dated in the future. Raises pydantic's ValidationError."""
    return RawEvent.model_validate(data, context=INBOUND)


@dataclass
class PipelineEvent:
    """A raw event on its way through the stages, gathering what each stage learns."""

    raw: RawEvent
    received_at: datetime = field(default_factory=utcnow)
    lang: str | None = None
    normalized_text: str = ""
    cashtags: list[str] = field(default_factory=list)
    evm_addresses: list[str] = field(default_factory=list)
    solana_addresses: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    sentiment: float | None = None
    fingerprint: int | None = None
    enrichment: dict[str, Any] = field(default_factory=dict)
    dropped: str | None = None

    @property
    def dedup_id(self) -> str:
        """The source's own id for this item, unique across sources."""
        return f"{self.raw.source}:{self.raw.source_id}"

    @property
    def symbol(self) -> str | None:
        return self.raw.symbol or (self.cashtags[0] if self.cashtags else None)

    # token and event_key are read many times per event: computed once, after refine.
    @cached_property
    def token(self) -> tuple[str, str] | None:
        """(chain, contract) of the token this event is about, if any."""
        if self.raw.token_ca:
            return (self.raw.chain or "unknown", self.raw.token_ca)
        if self.evm_addresses:
            return (self.raw.chain or "ethereum", self.evm_addresses[0])
        if self.solana_addresses:
            return ("solana", self.solana_addresses[0])
        return None

    @cached_property
    def event_key(self) -> str:
        """What repeated evidence shares: the token (or cashtag) and day, else the item."""
        day = f"{self.raw.created_at:%Y-%m-%d}"
        token = self.token
        if token is not None:
            return f"token:{token[0]}:{token[1]}:{day}"
        if self.raw.type == "post" and self.symbol:
            return f"cashtag:{self.symbol}:{day}"
        return f"{self.raw.type}:{self.dedup_id}"
