"""X API v2 response bodies as pydantic models.

Every body is validated as a whole before anything is written, so a malformed page fails
with one message naming the endpoint and the field, and the database never sees half of it.
Unknown fields are ignored (X adds fields over time); missing or mistyped ones are errors.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from musktracker.db.models import PostKind
from musktracker.ingest.archive import PostRecord
from musktracker.ingest.errors import XResponseError
from musktracker.utc import ensure_utc


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ReferencedTweet(_Model):
    type: Literal["replied_to", "quoted", "retweeted"]
    id: str


# A repost references what it reposts; a reply may also quote: the repost wins, then reply.
_KIND_BY_REFERENCE = (
    ("retweeted", PostKind.REPOST),
    ("replied_to", PostKind.REPLY),
    ("quoted", PostKind.QUOTE),
)


class Tweet(_Model):
    """One post as the v2 endpoints return it with our `tweet.fields`."""

    id: str = Field(pattern=r"^[0-9]{1,19}$")
    text: str
    created_at: datetime
    author_id: str | None = None
    referenced_tweets: list[ReferencedTweet] = Field(default_factory=list)

    @field_validator("created_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return ensure_utc(value, "created_at")

    @property
    def kind(self) -> PostKind:
        types = {ref.type for ref in self.referenced_tweets}
        for ref_type, kind in _KIND_BY_REFERENCE:
            if ref_type in types:
                return kind
        return PostKind.ORIGINAL

    def record(self) -> PostRecord:
        return PostRecord(self.id, self.created_at, self.kind, self.text)


class ApiError(_Model):
    """An entry of the `errors` array (partial errors next to `data`, or a whole failure)."""

    title: str | None = None
    detail: str | None = None
    type: str | None = None
    resource_id: str | None = None
    value: str | None = None
    parameter: str | None = None


class PageMeta(_Model):
    result_count: int = Field(ge=0)
    newest_id: str | None = None
    oldest_id: str | None = None
    next_token: str | None = None


class TweetPage(_Model):
    """Timeline or recent-search page: newest first, `meta.next_token` for the next one."""

    data: list[Tweet] = Field(default_factory=list)
    meta: PageMeta
    errors: list[ApiError] = Field(default_factory=list)


class TweetLookup(_Model):
    """GET /2/tweets?ids=...: found posts in `data`, missing ones as partial `errors`."""

    data: list[Tweet] = Field(default_factory=list)
    errors: list[ApiError] = Field(default_factory=list)


class User(_Model):
    id: str = Field(pattern=r"^[0-9]+$")
    username: str
    name: str | None = None


class UserLookup(_Model):
    data: User


class CountBucket(_Model):
    start: datetime
    end: datetime
    tweet_count: int = Field(ge=0)


class CountsMeta(_Model):
    total_tweet_count: int = Field(ge=0)


class Counts(_Model):
    data: list[CountBucket] = Field(default_factory=list)
    meta: CountsMeta


class StreamRule(_Model):
    id: str
    value: str
    tag: str | None = None


class RulesSummary(_Model):
    created: int = 0
    not_created: int = 0
    deleted: int = 0
    not_deleted: int = 0
    invalid: int = 0


class RulesMeta(_Model):
    sent: str | None = None
    summary: RulesSummary | None = None


class Rules(_Model):
    data: list[StreamRule] = Field(default_factory=list)
    meta: RulesMeta
    errors: list[ApiError] = Field(default_factory=list)


class MatchingRule(_Model):
    id: str
    tag: str | None = None


class StreamEvent(_Model):
    """One line of the filtered stream."""

    data: Tweet
    matching_rules: list[MatchingRule] = Field(default_factory=list)


M = TypeVar("M", bound=BaseModel)


def _location(loc: tuple[int | str, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def parse_body(model: type[M], body: bytes | str, endpoint: str) -> M:
    """Validate a response body; any problem raises XResponseError naming what was wrong."""
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        snippet = body[:60] if isinstance(body, str) else body[:60].decode("utf-8", "replace")
        raise XResponseError(
            f"{endpoint}: response is not valid JSON ({exc}); body starts {snippet!r}; "
            "nothing from this response was stored"
        ) from None
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _location(first["loc"]) or "body"
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise XResponseError(
            f"{endpoint}: malformed response: field {where}: {first['msg']} "
            f"(got {repr(first.get('input'))[:80]}){more}; nothing from this response was stored"
        ) from None
