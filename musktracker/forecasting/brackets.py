"""Window totals and count brackets, the numbers prediction markets trade.

A window `[start, end)` may have begun: posts already observed are counted exactly and only
the remaining part is forecast. Hours cut by the window edges or by the as-of time are
handled by binomial thinning of that hour's simulated count (each post of the hour falls in
the kept part with probability equal to the kept fraction of the hour), which assumes posts
are spread evenly within an hour.

Brackets are written as markets write them: `low` and `high` inclusive (140-159), the top
bracket open (`high` None). Probabilities are shares of the same simulated totals; the top
bracket gets 1 minus the sum of the others (clipped at 0), so adding them up in order gives
1.0 (in another order, 1 within float rounding, about 1e-16).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from musktracker.forecasting.errors import ForecastError
from musktracker.utc import HOUR

WINDOW_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
TOP_OPEN_SHARE_FROM = 0.995


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
    """Either a fixed width starting at 0, or explicit lower edges (the last bracket open)."""

    width: int | None = None
    edges: tuple[int, ...] = ()

    @classmethod
    def parse(cls, text: str) -> BracketSpec:
        """`20` (width) or `0,140,160,180` (lower edges, increasing; the last is open)."""
        parts = [p.strip() for p in text.split(",")]
        try:
            values = [int(p) for p in parts]
        except ValueError:
            raise BracketError(
                f"--brackets {text!r}: give a width such as 20 or increasing edges such as "
                "0,140,160,180"
            ) from None
        if len(values) == 1:
            if values[0] <= 0:
                raise BracketError(f"--brackets {text!r}: a bracket width must be positive")
            return cls(width=values[0])
        if values[0] < 0 or any(b <= a for a, b in itertools.pairwise(values)):
            raise BracketError(
                f"--brackets {text!r}: edges must be non-negative and strictly increasing"
            )
        if values[0] > 0:
            values.insert(0, 0)  # counts below the first edge get their own bracket
        return cls(edges=tuple(values))

    def lower_edges(self, totals: NDArray[np.int64]) -> list[int]:
        if self.width is None:
            return list(self.edges)
        # the open top bracket starts where the last 0.5% of the distribution begins
        top = int(np.quantile(totals, TOP_OPEN_SHARE_FROM)) if len(totals) else 0
        return list(range(0, top // self.width * self.width + 1, self.width))


def bracket_probabilities(totals: NDArray[np.int64], spec: BracketSpec) -> list[Bracket]:
    """Share of simulated window totals in every bracket; the top (open) bracket gets
    1 minus the others' sum, so the shares added in order sum to 1 (see the module)."""
    edges = spec.lower_edges(totals)
    n = len(totals)
    brackets = []
    others = 0.0
    for i, low in enumerate(edges):
        if i + 1 < len(edges):
            high = edges[i + 1] - 1
            share = float(np.count_nonzero((totals >= low) & (totals <= high))) / n
            others += share  # left to right, as a reader adds the shares up
            brackets.append(Bracket(low, high, share))
        else:
            brackets.append(Bracket(low, None, max(0.0, 1.0 - others)))
    return brackets


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
