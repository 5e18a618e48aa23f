"""Archives of other accounts made from the real @elonmusk posts, for the tests that need
several accounts: a thinned, time-shifted copy whose snowflake ids encode the shifted times
(as real ids do), so the import's id-time check accepts them and no id is another's."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path

SHIFT = timedelta(hours=3, milliseconds=17)


def shifted_copy(
    source: Path, target: Path, shift: timedelta = SHIFT, every: int = 1,
    since: datetime | None = None,
) -> Path:
    """Every `every`-th post of `source` (of those at or after `since`), `shift` earlier,
    with the ids that encode the shifted times, written to `target` as a posts CSV."""
    delta_ms = int(shift / timedelta(milliseconds=1))
    with source.open() as src, target.open("w", newline="") as dst:
        out = csv.writer(dst)
        out.writerow(["tweet_id", "created_at"])
        for i, row in enumerate(csv.DictReader(src)):
            moment = datetime.fromisoformat(row["created_at"])
            if i % every or (since is not None and moment < since):
                continue
            moment -= shift
            out.writerow([int(row["tweet_id"]) - (delta_ms << 22),
                          moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")])
    return target
