"""Window totals and count brackets, the numbers prediction markets trade.

A window `[start, end)` may have begun: posts already observed are counted exactly and only
the remaining part is forecast. Hours cut by the window edges or by the as-of time are
handled by binomial thinning of that hour's simulated count (each post of the hour falls in
the kept part with probability equal to the kept fraction of the hour), which assumes posts
are spread evenly within an hour.

Brackets are written as markets write them: `low` and `high` inclusive (140-159), the top
bracket open (`high` None). Probabilities are shares of the same simulated totals, written
with PROBABILITY_DECIMALS (4) decimals: a share such as 11/2000 is 0.0055, never float noise
like 0.005500000000000171. They are rounded by the largest-remainder method, so the decimals
as written add up to exactly 1 (a float sum of them is 1 within about 1e-16, as any float
sum). Four decimals are more than the sampling allows: with 2,000 paths a probability of
0.2 has a standard error of 0.009, and 2,000 paths give multiples of 0.0005, so the default
is not rounded at all.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from musktracker.forecasting.errors import ForecastError
from musktracker.utc import HOUR

WINDOW_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
TAIL_SHARE = 0.005
"""Width mode: the open top bracket holds the last 0.5% of the distribution, and brackets
below the one holding its first 0.5% are merged into one from 0."""
PROBABILITY_DECIMALS = 4
MAX_BRACKETS = 200
"""More brackets than any market lists: beyond this the table, the JSON and the bar chart
(minutes to draw, tens of megabytes) stop being readable."""
MAX_EDGE = 10**9
"""Largest bracket edge or width: far above any window's count, and exact in every JSON
reader (integers above 2**53 are not)."""
_WHOLE_NUMBER = re.compile(r"[0-9]+")


class BracketError(ForecastError):
    """A --brackets value that cannot describe count brackets."""


@dataclass(frozen=True)
class Bracket:
    low: int
    high: int | None
    probability: float

    def label(self) -> str:
        return f"{self.low}+" if self.high is None else f"{self.low}-{self.high}"


@dataclass(frozen=True)
class BracketSpec:
    """Either a fixed width (brackets at its multiples, sized to the distribution) or
    explicit lower edges from 0 (the last bracket open)."""

    width: int | None = None
    edges: tuple[int, ...] = ()

    @classmethod
    def parse(cls, text: str) -> BracketSpec:
        """`20` (width) or `0,140,160,180` (lower edges, increasing; the last is open)."""
        shown = f"--brackets {text!r}"
        values = [_whole_number(part.strip(), shown) for part in text.split(",")]
        if len(values) == 1:
            if values[0] == 0:
                raise BracketError(f"{shown}: a bracket width must be at least 1")
            return cls(width=values[0])
        for a, b in itertools.pairwise(values):
            if b <= a:
                raise BracketError(
                    f"{shown}: edges must be strictly increasing ({b} follows {a})"
                )
        if values[0] > 0:
            values.insert(0, 0)  # counts below the first edge get their own bracket
        if len(values) > MAX_BRACKETS:
            raise BracketError(f"{shown}: {len(values)} brackets, at most {MAX_BRACKETS}")
        return cls(edges=tuple(values))

    def lower_edges(self, totals: NDArray[np.int64]) -> list[int]:
        """The explicit edges, or in width mode multiples of the width from the bracket
        holding the 0.5% quantile to the (open) one holding the 99.5% quantile, with one
        bracket from 0 below them; more than MAX_BRACKETS is a BracketError naming a width
        that fits."""
        if self.width is None:
            return list(self.edges)
        width = self.width
        low, high = (
            int(q) for q in np.quantile(totals, [TAIL_SHARE, 1 - TAIL_SHARE],
                                        method="inverted_cdf")
        )
        first, top = low // width * width, high // width * width
        below = [0] if first > 0 else []  # one bracket for the unlikely low counts
        edges = below + list(range(first, top + 1, width))
        if len(edges) > MAX_BRACKETS:
            fitting = -(-(high - low) // (MAX_BRACKETS - 3))
            raise BracketError(
                f"--brackets {width}: {len(edges)} brackets of width {width} would cover the "
                f"middle 99% of this window's count ({low}-{high}), at most {MAX_BRACKETS}; "
                f"give a width of at least {fitting}"
            )
        return edges


def _whole_number(part: str, shown: str) -> int:
    """One width or edge: ASCII digits (no sign, `1_000` or other scripts' digits), at most
    MAX_EDGE."""
    if not _WHOLE_NUMBER.fullmatch(part):
        what = "a negative count" if part.startswith("-") else "not a whole number"
        raise BracketError(
            f"{shown}: {part!r} is {what}; give a width such as 20 or increasing lower "
            "edges such as 0,140,160,180"
        )
    value = int(part)
    if value > MAX_EDGE:
        raise BracketError(f"{shown}: {part} is more than {MAX_EDGE:,} posts")
    return value


def _rounded_shares(counts: NDArray[np.int64]) -> list[float]:
    """counts / their sum, each rounded to PROBABILITY_DECIMALS decimals by the largest-
    remainder method (in integers, so exactly): the rounded decimals add up to 1, and a
    bracket with no sample stays 0."""
    n = int(counts.sum())
    unit = 10**PROBABILITY_DECIMALS
    scaled = [int(c) * unit for c in counts]
    units = [value // n for value in scaled]
    by_remainder = sorted(range(len(units)), key=lambda i: (-(scaled[i] % n), i))
    for i in by_remainder[: unit - sum(units)]:
        units[i] += 1
    return [u / unit for u in units]


def bracket_probabilities(totals: NDArray[np.int64], spec: BracketSpec) -> list[Bracket]:
    """Share of simulated window totals in every bracket, rounded so that the shares as
    written add up to exactly 1 (see the module)."""
    edges = spec.lower_edges(totals)
    index = np.searchsorted(np.asarray(edges, dtype="int64"), totals, side="right") - 1
    counts = np.bincount(index, minlength=len(edges))
    highs: list[int | None] = [b - 1 for b in edges[1:]]
    return [
        Bracket(low, high, share)
        for low, high, share in zip(edges, [*highs, None], _rounded_shares(counts), strict=True)
    ]


def hour_fractions(hours: pd.DatetimeIndex, start: datetime, end: datetime) -> NDArray[np.float64]:
    """Fraction of each hour `[h, h+1h)` that lies inside `[start, end)`."""
    begin = hours.to_numpy(dtype="datetime64[ns]").astype("int64")
    hour_ns = int(HOUR.total_seconds() * 1e9)
    lo = np.maximum(begin, pd.Timestamp(start).value)
    hi = np.minimum(begin + hour_ns, pd.Timestamp(end).value)
    return np.asarray(np.clip(hi - lo, 0, None) / hour_ns, dtype="float64")


def window_totals(
    samples: NDArray[np.int64],
    hours: pd.DatetimeIndex,
    start: datetime,
    end: datetime,
    seed: int | None = None,
) -> NDArray[np.int64]:
    """Simulated counts in `[start, end)` from hourly samples (n_samples, len(hours)),
    thinning hours that are only partly inside."""
    fractions = hour_fractions(hours, start, end)
    full = fractions >= 1.0
    partial = (fractions > 0.0) & ~full
    totals = samples[:, full].sum(axis=1)
    if partial.any():
        rng = np.random.default_rng(seed)
        totals = totals + rng.binomial(samples[:, partial], fractions[partial]).sum(axis=1)
    return np.asarray(totals, dtype="int64")


@dataclass(frozen=True)
class WindowForecast:
    """The distribution of the number of posts in `[start, end)`."""

    start: datetime
    end: datetime
    observed: int
    totals: NDArray[np.int64]  # simulated totals, observed posts included

    @property
    def mean(self) -> float:
        return float(self.totals.mean())

    def quantiles(self, levels: tuple[float, ...] = WINDOW_QUANTILES) -> dict[float, int]:
        values = np.quantile(self.totals, levels, method="inverted_cdf")
        return {level: int(v) for level, v in zip(levels, values, strict=True)}

    def brackets(self, spec: BracketSpec) -> list[Bracket]:
        return bracket_probabilities(self.totals, spec)
