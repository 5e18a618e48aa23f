from __future__ import annotations

import os
import time
from pathlib import Path

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
