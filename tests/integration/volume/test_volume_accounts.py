"""The volume commands with several tracked accounts: which account a command works on when
none is named, and that it says so. Real posts (a second account's are the first 3,000 real
posts shifted in time, with ids that encode the shifted times), real SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from musktracker.cli.main import app
from tests.shifted_posts import shifted_copy

from .test_volume_cli import AS_OF, CHEAP, _counts, _run


def _error(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 1, result.output
    return result.output


ONE_ACCOUNT_COMMANDS = (
    ("train", "--model", CHEAP, "--backtest-windows", "1", "--as-of", AS_OF),
    ("forecast", "--model", "hour_of_day_mean", "--as-of", AS_OF),
    ("forecast", "--window", f"{AS_OF}/2023-02-02T00:00Z", "--as-of", AS_OF),
    ("regimes",),
    ("evaluate-forecasts",),
)


def test_one_account_commands_use_the_only_account_and_never_guess_among_several(
    imported: Engine, runner: CliRunner, posts_sample: Path, tmp_path: Path
) -> None:
    """Without --account these commands worked on @elonmusk: an operator tracking other
    accounts got @elonmusk's numbers, or, with @elonmusk not tracked, was told to add it."""
    archive = shifted_copy(posts_sample, tmp_path / "posts.csv")
    assert runner.invoke(app, ["accounts", "add", "TeslaNews"]).exit_code == 0
    imported_ = runner.invoke(app, ["import", str(archive), "--account", "teslanews"])
    assert imported_.exit_code == 0, imported_.output
    before = _counts(imported)
    for args in ONE_ACCOUNT_COMMANDS:
        line = _error(runner, *args)
        assert "2 accounts are tracked (@elonmusk, @teslanews); name one with --account" in line
    assert _counts(imported) == before
    # named, in any case, each works on its own account
    out = _run(runner, "forecast", "--account", "TESLANEWS", "--model", "hour_of_day_mean",
               "--as-of", AS_OF, "--samples", "50", "--json")
    assert out["account"] == "teslanews"
    # with @elonmusk gone, the one account left is the default
    removed = runner.invoke(app, ["accounts", "remove", "elonmusk", "--yes"])
    assert removed.exit_code == 0, removed.output
    out = _run(runner, "forecast", "--model", "hour_of_day_mean", "--as-of", AS_OF,
               "--samples", "50", "--json")
    assert out["account"] == "teslanews"
    assert _run(runner, "regimes", "--json")["account"] == "teslanews"
    assert _run(runner, "evaluate-forecasts", "--json")["account"] == "teslanews"
    # and with none, the error says to add one (not to add @elonmusk)
    assert runner.invoke(app, ["accounts", "remove", "teslanews", "--yes"]).exit_code == 0
    for args in ONE_ACCOUNT_COMMANDS:
        assert "no accounts tracked yet; add one with `musktracker accounts add USERNAME`" in (
            _error(runner, *args)
        )


def test_a_short_history_account_is_told_what_is_missing(
    imported: Engine, runner: CliRunner, posts_sample: Path, tmp_path: Path
) -> None:
    """An account tracked for 4 days: every model it is too short for says so and how long
    its history is (not `--train-days 30`, which more days cannot satisfy); hawkes, which
    forecast thousands of posts an hour or exhausted memory, is among them; the models
    that fit, `train` and `best` work; an account with no posts is named."""
    archive = shifted_copy(posts_sample, tmp_path / "short.csv", every=3,
                           since=datetime(2023, 2, 15, 19, tzinfo=UTC))
    assert runner.invoke(app, ["accounts", "add", "Shorty"]).exit_code == 0
    done = runner.invoke(app, ["import", str(archive), "--account", "shorty"])
    assert done.exit_code == 0, done.output
    before = _counts(imported)
    for model, needs in (("negative_binomial", 192), ("hawkes", 168),
                         ("seasonal_naive_weekly", 336)):
        line = _error(runner, "forecast", "-a", "shorty", "--model", model)
        assert (f"--model {model}: {model} could not be fitted on @shorty's posts: they start "
                "in the hour from 2023-02-15T16:00Z, only 96 hours before 2023-02-19T16:00Z: "
                f"{model} needs at least {needs} hours of history, got 96") in line, line
    assert _counts(imported) == before
    trained = runner.invoke(app, ["train", "-a", "shorty", "--model", "all",
                                  "--backtest-windows", "1", "--samples", "50", "--json"])
    assert trained.exit_code == 0, trained.output
    report = json.loads(trained.stdout)
    assert report["account"] == "shorty"
    assert set(report["models"]) == {"hour_of_day_mean", "seasonal_naive_daily", "sarimax",
                                     "ensemble"}
    assert any("hawkes needs at least 168 hours" in f["message"] for f in report["failures"])
    out = _run(runner, "forecast", "-a", "shorty", "--samples", "50", "--json")
    assert out["model"] == min(report["models"], key=lambda m: report["models"][m]["crps"])
    assert max(hour["upper_95"] for hour in out["hours"]) < 20  # about one post an hour
    regimes = runner.invoke(app, ["regimes", "-a", "shorty"])
    assert regimes.exit_code == 0, regimes.output
    lines = regimes.output.splitlines()
    assert lines[0] == "@shorty: regime shifts in posts per day (all), data up to 2023-02-19 16:00Z"
    assert lines[1].startswith("cusum: no alert possible yet: it needs more than 42 complete "
                               "days of posts")
    assert lines[1].endswith("has 3")
    assert lines[2].startswith("rolling_variance: no alert possible yet")
    assert runner.invoke(app, ["accounts", "add", "nothing_yet"]).exit_code == 0
    for args in (("forecast",), ("train", "--backtest-windows", "1"),
                 ("forecast", "--window", "2023-02-01T00:00Z/2023-02-02T00:00Z")):
        line = _error(runner, *args, "--account", "nothing_yet")
        assert "@nothing_yet has no hourly buckets yet; import or ingest posts first" in line


def test_models_scored_on_different_windows_are_ranked_on_the_same_ones(
    imported: Engine, runner: CliRunner, posts_sample: Path, tmp_path: Path
) -> None:
    """An account with 10 days of posts: the baselines are scored on 7 windows, the models
    that need a week or more on the last ones only. Pooled CRPS over different windows made
    negative_binomial `best` on one window where the baselines did better."""
    archive = shifted_copy(posts_sample, tmp_path / "tenday.csv", every=2,
                           since=datetime(2023, 2, 9, 19, tzinfo=UTC))
    assert runner.invoke(app, ["accounts", "add", "tenday"]).exit_code == 0
    assert runner.invoke(app, ["import", str(archive), "-a", "tenday"]).exit_code == 0
    report = _run(runner, "train", "-a", "tenday", "--model", "all", "--backtest-windows",
                  "8", "--samples", "200", "--json")
    scored = {m: {w["start"]: w["models"][m]["crps"] for w in report["windows"]
                  if m in w["models"]} for m in report["models"]}
    assert len({len(windows) for windows in scored.values()}) > 1  # the windows differ
    common = set.intersection(*(set(windows) for windows in scored.values()))
    assert common
    on_common = {m: sum(w[s] for s in common) / len(common) for m, w in scored.items()}
    ranked = list(report["models"])
    assert ranked == sorted(ranked, key=lambda m: (on_common[m], m))
    pooled_best = min(report["models"], key=lambda m: report["models"][m]["crps"])
    assert ranked[0] != pooled_best  # what `best` was
    out = _run(runner, "forecast", "-a", "tenday", "--samples", "50", "--json")
    assert out["model"] == ranked[0]
    table = runner.invoke(app, ["train", "-a", "tenday", "--model", "all",
                                "--backtest-windows", "8", "--samples", "200"])
    assert table.exit_code == 0, table.output
    assert f"sorted by rank CRPS: the CRPS on the {len(common)} " in table.output
