"""X API v2 response models: kinds from referenced_tweets and errors that name the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from musktracker.db.models import PostKind
from musktracker.ingest.errors import XResponseError
from musktracker.ingest.responses import StreamEvent, TweetLookup, TweetPage, parse_body

TWEET: dict[str, object] = {
    "id": "1851767593788674058",
    "text": "hello",
    "created_at": "2024-10-30T23:26:13.000Z",
    "author_id": "44196397",
    "edit_history_tweet_ids": ["1851767593788674058"],
}


def _page(*tweets: dict[str, object], **meta: object) -> bytes:
    return json.dumps(
        {"data": list(tweets), "meta": {"result_count": len(tweets), **meta}}
    ).encode()


@pytest.mark.parametrize(
    ("refs", "kind"),
    [
        ([], PostKind.ORIGINAL),
        ([{"type": "replied_to", "id": "1"}], PostKind.REPLY),
        ([{"type": "quoted", "id": "1"}], PostKind.QUOTE),
        ([{"type": "retweeted", "id": "1"}], PostKind.REPOST),
        ([{"type": "quoted", "id": "1"}, {"type": "replied_to", "id": "2"}], PostKind.REPLY),
    ],
)
def test_kind_follows_referenced_tweets(refs: list[dict[str, str]], kind: PostKind) -> None:
    page = parse_body(TweetPage, _page({**TWEET, "referenced_tweets": refs}), "user timeline")
    assert page.data[0].kind is kind
    record = page.data[0].record()
    assert record.created_at == datetime(2024, 10, 30, 23, 26, 13, tzinfo=UTC)
    assert record.text == "hello"


def test_page_meta_and_empty_page() -> None:
    page = parse_body(TweetPage, _page(TWEET, newest_id="2", oldest_id="1", next_token="pt1"), "t")
    assert page.meta.next_token == "pt1" and page.meta.result_count == 1
    empty = parse_body(TweetPage, b'{"meta": {"result_count": 0}}', "t")
    assert empty.data == [] and empty.meta.next_token is None


def test_partial_errors_are_kept() -> None:
    body = {
        "data": [TWEET],
        "errors": [
            {
                "value": "1",
                "detail": "Could not find tweet with ids: [1].",
                "title": "Not Found Error",
                "resource_id": "1",
                "type": "https://api.twitter.com/2/problems/resource-not-found",
            }
        ],
    }
    lookup = parse_body(TweetLookup, json.dumps(body), "tweet lookup")
    assert lookup.errors[0].resource_id == "1" and len(lookup.data) == 1


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"data": [{"id": "1"', ["user timeline", "not valid JSON"]),
        (_page({k: v for k, v in TWEET.items() if k != "created_at"}), ["data[0].created_at"]),
        (_page({**TWEET, "id": "12ab"}), ["data[0].id"]),
        (_page({**TWEET, "created_at": "2024-10-30T23:26:13"}), ["no time zone"]),
        (_page({**TWEET, "referenced_tweets": [{"type": "liked", "id": "1"}]}), ["type"]),
        (b'{"data": []}', ["field meta", "Field required"]),
    ],
)
def test_malformed_bodies_name_the_problem(body: bytes, words: list[str]) -> None:
    with pytest.raises(XResponseError) as err:
        parse_body(TweetPage, body, "user timeline")
    for word in words:
        assert word in str(err.value)
    assert "nothing from this response was stored" in str(err.value)


def test_stream_event() -> None:
    line = json.dumps({"data": TWEET, "matching_rules": [{"id": "7", "tag": "musktracker:x"}]})
    event = parse_body(StreamEvent, line, "filtered stream")
    assert event.matching_rules[0].tag == "musktracker:x" and event.data.author_id == "44196397"
