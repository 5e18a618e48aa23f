"""pydantic's validation errors in our own words."""

from __future__ import annotations

from pydantic_core import ErrorDetails


def reason(err: ErrorDetails) -> str:
    """What is wrong with one value: pydantic's message, without the "Value error, " it puts
    before the words of our own validators (`created_at is in the future ...`)."""
    return err["msg"].removeprefix("Value error, ")
