"""`signals run` picks up rule edits without a restart and ignores a broken edit."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from musktracker.db.models import Account, RawTweet, Signal
from musktracker.db.session import session_scope
from musktracker.utc import utcnow

REPO = Path(__file__).resolve().parents[3]
RULE = '- {{name: token_named, condition: "cashtag_count > 0", score: {score}, reason: token}}\n'


def add_post(engine: Engine, account_id: int, tweet_id: str, symbol: str) -> None:
    with session_scope(engine) as session:
        session.add(
            RawTweet(
                account_id=account_id,
                tweet_id=tweet_id,
                created_at=utcnow(),
                source="test",
                text=f"Thinking about ${symbol} a lot today, what a wonderful idea this is",
            )
        )


def score_of(engine: Engine, symbol: str, timeout: float = 15) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with session_scope(engine) as session:
            score = session.scalar(select(Signal.score).where(Signal.event_key.contains(symbol)))
        if score is not None:
            return float(score)
        time.sleep(0.1)
    raise AssertionError(f"no signal for {symbol} within {timeout}s")


def test_rules_edit_applies_while_running(engine: Engine, db_url: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(RULE.format(score=5))
    with session_scope(engine) as session:
        account = Account(username="elonmusk")
        session.add(account)
        session.flush()
        account_id = account.id
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "RULES_PATH": str(rules),
        "RULES_RELOAD_SECONDS": "0.2",
        "SIGNALS_POLL_SECONDS": "0.2",
        "SIGNALS_ENRICH": "false",
        "LOG_FORMAT": "json",
    }
    log = tmp_path / "run.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "musktracker.cli.signals", "run"],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            add_post(engine, account_id, "1", "DOGE")
            assert score_of(engine, "DOGE") == 5

            rules.write_text(RULE.format(score=9))
            time.sleep(1.0)  # a few reload intervals
            add_post(engine, account_id, "2", "PEPE")
            assert score_of(engine, "PEPE") == 9

            rules.write_text(RULE.format(score=3).replace("cashtag_count", "no_such_feature"))
            time.sleep(1.0)
            add_post(engine, account_id, "3", "SHIB")
            assert score_of(engine, "SHIB") == 9  # the last good rules stay in force
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    output = log.read_text()
    assert "rules reload rejected" in output
    assert "rule 'token_named'" in output and "unknown name 'no_such_feature'" in output
