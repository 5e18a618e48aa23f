from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """CLI tests configure logging onto CliRunner's stderr, which closes; undo after each."""
    yield
    structlog.reset_defaults()
