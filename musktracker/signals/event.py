"""The one event shape every source produces and every stage reads.

Sources normalize whatever they read into `RawEvent` (validated by pydantic, so a bad
inbound line names its field); stages then fill in the derived fields of `PipelineEvent`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from musktracker.utc import ensure_utc, utcnow

EventType = Literal["post", "volume_burst", "regime_shift", "sentiment_swing", "external"]


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
    data: dict[str, float | int | str | bool | None] = Field(default_factory=dict)

    @field_validator("created_at")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        return ensure_utc(value, "created_at")

    @field_validator("account")
    @classmethod
    def _handle(cls, value: str | None) -> str | None:
        return value.lstrip("@").lower() if value else value


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
