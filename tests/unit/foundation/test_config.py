from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from musktracker.config import DEFAULT_DATABASE_URL, SettingsError, load_settings
from musktracker.logging import configure_logging, get_logger

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DATABASE_URL", "TIMEZONE", "LOG_FORMAT", "LOG_LEVEL", "STORE_POST_TEXT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_need_no_configuration() -> None:
    s = load_settings()
    assert s.database_url == DEFAULT_DATABASE_URL
    assert s.timezone == "UTC"
    assert s.store_post_text is False
    assert s.redis_url is None
    assert s.log_format == "console"


def test_timezone_other_than_utc_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIMEZONE", "Europe/Berlin")
    with pytest.raises(SettingsError, match=r"TIMEZONE.*'Europe/Berlin'.*must be 'UTC'"):
        load_settings()


def test_bad_log_format_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(SettingsError, match="LOG_FORMAT='xml'"):
        load_settings()


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("STORE_POST_TEXT=true\nLOG_LEVEL=debug\n")
    s = load_settings()
    assert s.store_post_text is True
    assert s.log_level == "DEBUG"


def test_env_example_lists_every_setting() -> None:
    from musktracker.config import Settings

    example = (REPO / ".env.example").read_text()
    for name in Settings.model_fields:
        assert f"{name.upper()}=" in example, f"{name.upper()} missing from .env.example"


def test_json_logs_are_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    get_logger("test").info("imported", posts=3)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["event"] == "imported" and record["posts"] == 3 and record["level"] == "info"
    configure_logging("INFO", "console")
    logging.getLogger().handlers.clear()
