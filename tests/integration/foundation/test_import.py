from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from rich.console import Console
from rich.progress import Progress, TaskID
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from musktracker.accounts import AccountError, add_account
from musktracker.cli import archive as archive_cli
from musktracker.cli.main import app
from musktracker.db.models import Feature, Granularity, RawTweet, TimeBucket
from musktracker.db.session import session_scope
from musktracker.features.buckets import hourly_counts, rebuild_buckets
from musktracker.features.build import refresh_after_buckets, refresh_features
from musktracker.features.count_rule import CountRule
from musktracker.ingest.archive import ArchiveError
from musktracker.ingest.importer import import_archive
from musktracker.ingest.snowflake import snowflake_floor
from musktracker.utc import HOUR, floor_day, floor_hour, parse_utc
from tests.shifted_posts import shifted_copy


def sid(stamp: str) -> str:
    """The snowflake id that encodes exactly this time."""
    return str(snowflake_floor(parse_utc(stamp)) + 1)


def _table_counts(engine: Engine) -> dict[str, int]:
    with session_scope(engine) as s:
        return {
            "posts": s.scalar(select(func.count()).select_from(RawTweet)) or 0,
            "buckets": s.scalar(select(func.count()).select_from(TimeBucket)) or 0,
            "features": s.scalar(select(func.count()).select_from(Feature)) or 0,
        }


def _features(session: Session, account_id: int) -> pd.DataFrame:
    skip = ("id", "account_id", "computed_at")
    cols = [c.name for c in Feature.__table__.columns if c.name not in skip]
    rows = session.execute(
        select(*[getattr(Feature, c) for c in cols])
        .where(Feature.account_id == account_id)
        .order_by(Feature.count_rule, Feature.reference_time)
    ).all()
    return pd.DataFrame(rows, columns=cols)


def _account(engine: Engine, name: str = "elonmusk") -> int:
    with session_scope(engine) as s:
        return add_account(s, name).id


def test_full_real_history(engine: Engine, posts_csv: Path) -> None:
    """The issue's check: every post, idempotent re-import, dense buckets summing exactly."""
    account_id = _account(engine)
    with posts_csv.open() as handle:
        expected = {row["tweet_id"]: parse_utc(row["created_at"]) for row in csv.DictReader(handle)}
    with session_scope(engine) as s:
        report = import_archive(s, "elonmusk", posts_csv)
    assert report.inserted == len(expected) == 75571
    with session_scope(engine) as s:
        again = import_archive(s, "elonmusk", posts_csv)
    assert again.inserted == 0 and again.already_stored == len(expected)
    with session_scope(engine) as s:
        stored = dict(s.execute(select(RawTweet.tweet_id, RawTweet.created_at)).all())
        assert stored == expected
        hourly = hourly_counts(s, account_id)
        first, last = min(expected.values()), max(expected.values())
        n_hours = int((floor_hour(last) - floor_hour(first)) / HOUR) + 1
        assert len(hourly) == n_hours
        assert hourly.index[0] == floor_hour(first) and hourly.index[-1] == floor_hour(last)
        assert (hourly.index[1:] - hourly.index[:-1] == HOUR).all()
        assert int(hourly.sum()) == len(expected)
        daily = s.execute(
            select(func.count(), func.sum(TimeBucket.tweet_count)).where(
                TimeBucket.granularity == Granularity.DAILY.value
            )
        ).one()
        assert daily[0] == (floor_day(last) - floor_day(first)).days + 1
        assert daily[1] == len(expected)
        n_features = s.scalar(select(func.count()).select_from(Feature))
        assert n_features == n_hours + 1  # every bucket start plus the next hour


def test_corrupt_file_changes_nothing_unless_skip_bad(
    engine: Engine, posts_sample: Path, tmp_path: Path
) -> None:
    _account(engine)
    lines = posts_sample.read_text().splitlines()
    lines[100] = lines[100].split(",")[0] + ",2022-11-0X"
    lines[200] = "notanid," + lines[200].split(",")[1]
    bad = tmp_path / "corrupt.csv"
    bad.write_text("\n".join(lines) + "\n")
    expected = r"line 101: created_at.*line 201: tweet_id 'notanid'"
    with pytest.raises(ArchiveError, match=expected), session_scope(engine) as s:
        import_archive(s, "elonmusk", bad)
    assert _table_counts(engine) == {"posts": 0, "buckets": 0, "features": 0}
    with session_scope(engine) as s:
        report = import_archive(s, "elonmusk", bad, skip_bad=True)
    assert report.inserted == 2998 and [e.line for e in report.skipped] == [101, 201]
    bad_ids = {lines[100].split(",")[0]}
    with session_scope(engine) as s:
        ids = set(s.scalars(select(RawTweet.tweet_id)))
    assert len(ids) == 2998 and not ids & bad_ids


def test_posts_stored_for_another_account_are_refused_naming_it(
    engine: Engine, posts_sample: Path, tmp_path: Path
) -> None:
    """A post has one author. @elonmusk's file imported with `--account teslanews` stored
    all 3,000 posts a second time, under @teslanews, whose counts and forecasts took them
    in; now each such line is bad, naming the account that has it."""
    _account(engine, "elonmusk")
    teslanews = _account(engine, "TeslaNews")
    with session_scope(engine) as s:
        import_archive(s, "elonmusk", posts_sample)
    before = _table_counts(engine)
    with pytest.raises(ArchiveError, match=r"line 2: tweet_id \d+ is already stored for "
                       r"@elonmusk; a post has one author \(is this @elonmusk's file, or is "
                       r"--account teslanews wrong\?\).*\(and 2995 more\); nothing was "
                       "imported"), session_scope(engine) as s:
        import_archive(s, "TESLANEWS", posts_sample)
    assert _table_counts(engine) == before
    # a file of its own posts with three of @elonmusk's in it: with --skip-bad, only its own
    lines = posts_sample.read_text().splitlines()
    own = tmp_path / "own.csv"
    own.write_text("\n".join([lines[0], *(f"{int(i) + 1}{t[t.index(','):]}" for i, t in (
        (line.split(",")[0], line) for line in lines[1:11]))]) + "\n")
    # (ids one higher: another post of the same millisecond, as far as the id-time check goes)
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("\n".join([*own.read_text().splitlines(), *lines[20:23]]) + "\n")
    with pytest.raises(ArchiveError, match=r"line 12: .*line 13: .*line 14: .*@elonmusk"), \
            session_scope(engine) as s:
        import_archive(s, "teslanews", mixed)
    with session_scope(engine) as s:
        report = import_archive(s, "teslanews", mixed, skip_bad=True)
    assert report.inserted == 10 and [e.line for e in report.skipped] == [12, 13, 14]
    with session_scope(engine) as s:
        mine = s.scalar(select(func.count()).where(RawTweet.account_id == teslanews))
        again = import_archive(s, "elonmusk", posts_sample)  # its own file: already stored
    assert mine == 10 and again.inserted == 0 and not again.skipped


def test_unknown_account_is_refused(engine: Engine, posts_sample: Path) -> None:
    with pytest.raises(AccountError, match="'nobody' is not tracked"), session_scope(engine) as s:
        import_archive(s, "nobody", posts_sample)


def test_incremental_import_equals_full_import(
    engine: Engine, posts_sample: Path, tmp_path: Path
) -> None:
    lines = posts_sample.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    late, early = tmp_path / "late.csv", tmp_path / "early.csv"
    late.write_text("\n".join([header, *rows[2000:]]) + "\n")  # newer posts first: gap before
    early.write_text("\n".join([header, *rows[:1000]]) + "\n")
    a = _account(engine, "incremental")
    b = _account(engine, "full")
    # A post has one author, so the other account gets the same posts a week earlier (ids
    # to match): the same hours of the same weekdays, compared a week apart.
    week = timedelta(days=7)
    earlier = shifted_copy(posts_sample, tmp_path / "full.csv", shift=week)
    with session_scope(engine) as s:
        import_archive(s, "incremental", late)
        import_archive(s, "incremental", early)  # leaves a gap that must be zero-filled ...
        middle = tmp_path / "middle.csv"
        middle.write_text("\n".join([header, *rows[1000:2000]]) + "\n")
        import_archive(s, "incremental", middle)  # ... and then filled
        import_archive(s, "full", earlier)
    with session_scope(engine) as s:
        ha, hb = hourly_counts(s, a), hourly_counts(s, b)
        hb.index = hb.index + week
        assert ha.equals(hb) and int(ha.sum()) == 3000
        fa, fb = (_features(s, acct) for acct in (a, b))
    fb["reference_time"] = fb["reference_time"] + week
    # Rolling sums start at different offsets, so floats may differ in the last bits.
    pd.testing.assert_frame_equal(fa, fb, check_exact=False, rtol=1e-9)
    assert len(fa) == len(ha) + 1


def test_deleted_posts_and_counting_rules(engine: Engine, tmp_path: Path) -> None:
    account_id = _account(engine)
    path = tmp_path / "kinds.csv"
    path.write_text(
        "tweet_id,created_at,kind\n"
        + "".join(
            f"{sid(stamp)},{stamp},{kind}\n"
            for stamp, kind in (
                ("2024-03-01T10:05:00Z", "original"),
                ("2024-03-01T10:10:00Z", "reply"),
                ("2024-03-01T10:20:00Z", "repost"),
                ("2024-03-01T12:00:00Z", "quote"),
                ("2024-03-01T12:30:00Z", "reply"),
            )
        )
    )
    reply = sid("2024-03-01T10:10:00Z")
    with session_scope(engine) as s:
        import_archive(s, "elonmusk", path)
    rule = CountRule.parse("original,quote,repost")
    with session_scope(engine) as s:
        assert hourly_counts(s, account_id).tolist() == [3, 0, 2]
        assert hourly_counts(s, account_id, rule).tolist() == [2, 0, 1]
        span = refresh_features(
            s, account_id, parse_utc("2024-03-01T10:00Z"), parse_utc("2024-03-01T13:00Z"), rule
        )
        assert span == 4
        s.execute(update(RawTweet).where(RawTweet.tweet_id == reply).values(is_deleted=True))
        rebuilt = rebuild_buckets(s, account_id)
        assert rebuilt is not None
        refresh_after_buckets(s, account_id, rebuilt)
    with session_scope(engine) as s:
        assert hourly_counts(s, account_id).tolist() == [2, 0, 2]
        lag = s.execute(
            select(Feature.count_rule, Feature.lag_1h)
            .where(Feature.reference_time == parse_utc("2024-03-01T11:00Z"))
            .order_by(Feature.count_rule)
        ).all()
        assert lag == [("all", 2), ("original,quote,repost", 2)]
        assert s.scalar(select(func.count()).select_from(RawTweet)) == 5  # kept, flagged


def test_bucket_span_never_leaves_holes(engine: Engine, tmp_path: Path) -> None:
    account_id = _account(engine)
    for name, stamp in (("a", "2024-01-05T10:30:00Z"), ("b", "2024-01-01T00:10:00Z")):
        path = tmp_path / f"{name}.csv"
        path.write_text(f"tweet_id,created_at\n{sid(stamp)},{stamp}\n")
        with session_scope(engine) as s:
            import_archive(s, "elonmusk", path)
    with session_scope(engine) as s:
        counts = hourly_counts(s, account_id)
    assert len(counts) == 4 * 24 + 11 and int(counts.sum()) == 2
    assert counts.index[-1] - counts.index[0] == timedelta(hours=4 * 24 + 10)


def test_a_typo_in_a_year_is_refused_and_writes_nothing(
    engine: Engine, posts_sample: Path, tmp_path: Path, cli_env: str, runner: CliRunner
) -> None:
    """A year typo used to create buckets and features for every hour up to 2206, and year
    9999 crashed bucketing with an OverflowError."""
    _account(engine)
    path = tmp_path / "typo.csv"
    path.write_text(
        "tweet_id,created_at\n"
        "1587442891894538297,2206-02-28T10:00:00Z\n"
        "1587442891894538298,9999-12-31T23:00:00Z\n"
        "1587442891894538299,2022-11-01T13:54:13Z\n"
    )
    result = runner.invoke(app, ["import", str(path), "--account", "elonmusk"])
    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert "line 2: created_at '2206-02-28T10:00:00Z' is in the future" in out
    assert "line 3: created_at '9999-12-31T23:00:00Z' is in the future" in out
    assert "Traceback" not in out and "nothing was imported" in out
    assert _table_counts(engine) == {"posts": 0, "buckets": 0, "features": 0}

    skipped = runner.invoke(app, ["import", str(path), "--account", "elonmusk", "--skip-bad"])
    assert skipped.exit_code == 0, skipped.output
    assert "skipped 2 bad lines" in " ".join(skipped.output.split())
    counts = _table_counts(engine)
    assert counts["posts"] == 1 and counts["buckets"] == 2  # one hour, one day


def test_multiline_text_and_conflicting_repeats(engine: Engine, tmp_path: Path) -> None:
    _account(engine)
    a, b = sid("2022-11-05T10:00:00Z"), sid("2022-11-05T11:00:00Z")
    path = tmp_path / "multi.csv"
    path.write_text(
        "tweet_id,created_at,kind,text\n"
        f'{a},2022-11-05T10:00:00Z,original,"line one\nline two"\n'
        f'{b},2022-11-05T11:00:00Z,reply,"a, b"\n'
        f"{a},2022-11-05T10:00:01Z,original,again\n"
    )
    with (
        pytest.raises(ArchiveError, match=r"line 5: tweet_id .* repeats line 2"),
        session_scope(engine) as s,
    ):
        import_archive(s, "elonmusk", path, store_text=True)
    with session_scope(engine) as s:
        report = import_archive(s, "elonmusk", path, skip_bad=True, store_text=True)
    assert report.inserted == 2 and [e.line for e in report.skipped] == [5]
    with session_scope(engine) as s:
        texts = dict(s.execute(select(RawTweet.tweet_id, RawTweet.text)).all())
    assert texts == {a: "line one\nline two", b: "a, b"}


def test_storing_starts_after_reading(engine: Engine, posts_sample: Path) -> None:
    """The CLI's bar says "reading" while `progress` runs and switches its label on
    `on_storing`, which comes after the whole file is read and before anything is stored."""
    _account(engine)
    events: list[str] = []
    with session_scope(engine) as s:
        import_archive(
            s,
            "elonmusk",
            posts_sample,
            progress=lambda done, total: events.append("done" if done == total else "read"),
            on_storing=lambda: events.append(
                f"storing with {s.scalar(select(func.count()).select_from(RawTweet))} stored"
            ),
        )
    assert events[-2:] == ["done", "storing with 0 stored"]


def test_a_file_name_and_values_in_brackets_are_shown_as_written(
    engine: Engine, tmp_path: Path, cli_env: str, runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rich read "[x]" in the file name (the bar's label and the report) and in a bad
    line's quoted value as markup, and showed ".csv"."""
    _account(engine)
    shown: list[str] = []

    class Snapshots(Progress):
        """The bar, keeping the text of every state it is updated to (it is transient and
        drawn only on a terminal)."""

        def update(self, task_id: TaskID, **kwargs: Any) -> None:
            super().update(task_id, **kwargs)
            probe = Console(width=200, record=True, file=io.StringIO())
            probe.print(self.make_tasks_table(self.tasks))
            shown.append(probe.export_text())

    monkeypatch.setattr(archive_cli, "Progress", Snapshots)
    path = tmp_path / "[x].csv"
    path.write_text(
        "tweet_id,created_at\n"
        f"{sid('2022-11-05T10:00:00Z')},2022-11-05T10:00:00Z\n"
        f"{sid('2022-11-05T10:30:00Z')},2022-11-05T10:30:00Z\n"
        "[b]12,2022-11-05T11:00:00Z\n"
    )
    result = runner.invoke(
        app, ["import", str(path), "--account", "elonmusk", "--skip-bad"],
        env={"COLUMNS": "300"},
    )
    assert result.exit_code == 0, result.output
    assert f"{path}: 2 posts read" in result.output
    assert "skipped 1 bad line (line 4: tweet_id '[b]12'" in " ".join(result.output.split())
    assert shown and "reading [x].csv" in shown[0]
