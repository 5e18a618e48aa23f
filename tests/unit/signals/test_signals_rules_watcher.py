from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from musktracker.signals.features import FEATURE_DEFAULTS
from musktracker.signals.metrics import CONFIG_RELOAD
from musktracker.signals.rules import RulesWatcher

RULE = '- {{name: named, condition: "cashtag_count > 0", score: {score}, reason: r}}\n'


def write(path: Path, text: str, bump: int) -> None:
    path.write_text(text)
    stamp = time.time() + bump  # a distinct modification time even on coarse filesystems
    os.utime(path, (stamp, stamp))


def test_watcher_reloads_valid_edits_and_keeps_rules_on_broken_ones(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    write(path, RULE.format(score=5), 0)
    watcher = RulesWatcher(path, interval=0.0)
    features = {**FEATURE_DEFAULTS, "cashtag_count": 1}
    assert watcher.current().evaluate(features).score == 5

    ok_before = CONFIG_RELOAD.labels(result="ok")._value.get()
    write(path, RULE.format(score=9), 1)
    assert watcher.current().evaluate(features).score == 9
    assert CONFIG_RELOAD.labels(result="ok")._value.get() == ok_before + 1

    errors_before = CONFIG_RELOAD.labels(result="error")._value.get()
    write(path, RULE.format(score=1).replace("cashtag_count", "__import__('os')"), 2)
    assert watcher.current().evaluate(features).score == 9
    assert CONFIG_RELOAD.labels(result="error")._value.get() == errors_before + 1
    assert watcher.last_error is not None and "rule 'named'" in watcher.last_error


def test_non_utf8_edit_is_a_rejected_reload(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rules file saved as UTF-16 is reported and counted like any broken edit; the last
    good rules stay in force, and later calls do not pretend the edit was fine."""
    path = tmp_path / "rules.yml"
    write(path, RULE.format(score=5), 0)
    watcher = RulesWatcher(path, interval=0.0)
    features = {**FEATURE_DEFAULTS, "cashtag_count": 1}
    errors_before = CONFIG_RELOAD.labels(result="error")._value.get()
    path.write_bytes(RULE.format(score=9).encode("utf-16"))
    stamp = time.time() + 1
    os.utime(path, (stamp, stamp))
    assert watcher.current().evaluate(features).score == 5
    assert watcher.current().evaluate(features).score == 5
    assert CONFIG_RELOAD.labels(result="error")._value.get() == errors_before + 1
    assert watcher.last_error is not None and "not UTF-8 (byte" in watcher.last_error
    logged = capsys.readouterr()  # stdout, or stderr once a CLI test configured logging
    assert "rules reload rejected" in logged.out + logged.err


def test_non_finite_score_edit_is_a_rejected_reload(tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    write(path, RULE.format(score=5), 0)
    watcher = RulesWatcher(path, interval=0.0)
    features = {**FEATURE_DEFAULTS, "cashtag_count": 1}
    errors_before = CONFIG_RELOAD.labels(result="error")._value.get()
    write(path, RULE.format(score=".nan"), 1)
    assert watcher.current().evaluate(features).score == 5
    assert CONFIG_RELOAD.labels(result="error")._value.get() == errors_before + 1
    assert watcher.last_error == "rule 'named': score 'nan' must be a finite number"
