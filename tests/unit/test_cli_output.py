"""What CLI commands print: user strings shown as written, not read as Rich markup or
emoji codes."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rich.table import Table

from musktracker.cli.ingest import PrintConsumer
from musktracker.cli.runtime import noun, print_wide
from musktracker.db.models import PostKind
from musktracker.ingest.consumers import IngestedPost
from tests.conftest import REPO


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


def test_a_wide_table_shows_emoji_codes_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    """The wide console of `train` and `evaluate-forecasts` turned ":x:" into an emoji."""
    table = Table("key")
    table.add_row("post:x:1")
    print_wide(table)
    assert "post:x:1" in capsys.readouterr().out


def _consoles(path: Path) -> list[ast.Call]:
    """Every `Console(...)` call in a source file."""
    return [
        node
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Console"
    ]


def test_every_console_of_the_package_turns_emoji_codes_off() -> None:
    """A Console made without emoji=False shows "post:x:1" as "post❌1"."""
    calls = [
        (path, call) for path in (REPO / "musktracker").rglob("*.py") for call in _consoles(path)
    ]
    assert calls, "no Console() found: the test checks nothing"
    emoji_on = [
        f"{path.relative_to(REPO)}:{call.lineno}"
        for path, call in calls
        if not any(
            k.arg == "emoji" and isinstance(k.value, ast.Constant) and k.value.value is False
            for k in call.keywords
        )
    ]
    assert emoji_on == []


@pytest.mark.parametrize(
    ("count", "words"),
    [
        (1, "event class is"),
        (1.0, "event class is"),  # --train-days 1
        (0, "events classes are"),
        (2.5, "events classes are"),
    ],
)
def test_a_count_of_one_takes_the_singular(count: float, words: str) -> None:
    """`signals ingest` printed "1 events read"."""
    shown = [noun(count, "event"), noun(count, "class", "classes"), noun(count, "is", "are")]
    assert " ".join(shown) == words
