"""What CLI commands print: user strings shown as written, not read as Rich markup."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from musktracker.cli.ingest import PrintConsumer
from musktracker.db.models import PostKind
from musktracker.ingest.consumers import IngestedPost


def test_a_streamed_posts_text_is_printed_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    """`ingest --stream --print`: "[b]" in a post was read as markup and dropped."""
    post = IngestedPost(
        account_id=1,
        username="elonmusk",
        tweet_id="1587442891894538297",
        created_at=datetime(2022, 11, 5, 10, tzinfo=UTC),
        kind=PostKind.ORIGINAL,
        text="[b]ig news [x]",
    )
    PrintConsumer().on_post(post)
    assert "'[b]ig news [x]'" in capsys.readouterr().out
