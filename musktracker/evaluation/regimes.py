"""Regime shifts: lasting changes in how much an account posts.

Two rules run side by side:

- `rolling_variance`, the original design's rule: the 7-day rolling variance of hourly
  counts, looked at once a day, is flagged when it leaves its trailing 90-day mean by more
  than 2 standard deviations; a run of flagged days is one alert. It reacts to bursts as
  much as to level changes and has no controlled false-alarm rate; it is kept for
  comparison.
- `cusum`: a two-sided Negative Binomial CUSUM on daily counts relative to the seasonal
  expectation (the reference level times a day-of-week factor). The reference level and
  dispersion are estimated on `reference_days` days; the threshold is set by simulation so
  that, while nothing changes, false alarms arrive at `false_alarms_per_year` (split between
  the up and down sides). After an alarm the change point is the last day the statistic was
  zero; the next reference starts the day after the alarm, so one shift gives one alert.

Days with zero posts where the expectation makes zero all but impossible are treated as
collection outages and skipped (the shared data has several; see docs/ASSUMPTIONS.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

DAYS_PER_YEAR = 365
CUSUM_REFERENCE_DAYS = 42
VARIANCE_WINDOW_HOURS = 168
VARIANCE_BASELINE_DAYS = 90
OUTAGE_PROBABILITY = 1e-4
WEEKDAY_SHRINKAGE = 4.0  # pseudo-days pulling each weekday factor towards 1


@dataclass(frozen=True)
class RegimeShift:
    rule: str
    change_at: datetime  # first day of the new regime (UTC day start)
    detected_at: datetime  # end of the day on which the rule fired
    direction: str  # "up" or "down": where the posting level went (level_after vs before)
    level_before: float | None  # posts per day (None when no earlier week is known)
    level_after: float  # posts per day, from the change to the detection

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["change_at"] = self.change_at.isoformat()
        data["detected_at"] = self.detected_at.isoformat()
        return data


def daily_counts(hourly: pd.Series) -> pd.Series:
    """Counts per complete UTC day (a trailing partial day is dropped)."""
    if hourly.empty:
        return hourly.astype("int64")
    days = hourly.resample("D").agg(["sum", "size"])
    days = days[days["size"] == 24]
    return days["sum"].astype("int64")


def _level_direction(before: float | None, after: float, variance_up: bool) -> str:
    """`direction` always says where the posting level went (as for the CUSUM, and as the
    posts/day before and after show): the rule fires on the variance, which often rises
    while the level falls. Only without an earlier level does it follow the variance."""
    if before is None or np.isnan(before) or after == before:
        return "up" if variance_up else "down"
    return "up" if after > before else "down"


def rolling_variance_shifts(
    hourly: pd.Series,
    window_hours: int = VARIANCE_WINDOW_HOURS,
    baseline_days: int = VARIANCE_BASELINE_DAYS,
    sigmas: float = 2.0,
) -> list[RegimeShift]:
    """The original rule; see the module docstring."""
    variance = hourly.astype("float64").rolling(window_hours, min_periods=window_hours).var()
    level = hourly.astype("float64").rolling(window_hours, min_periods=window_hours).mean() * 24
    at_day_end = variance[pd.DatetimeIndex(variance.index).hour == 23].dropna()
    base = at_day_end.shift(1).rolling(baseline_days, min_periods=baseline_days // 3)
    mean, std = base.mean(), base.std()
    flagged = ((at_day_end - mean).abs() > sigmas * std) & std.notna()
    shifts: list[RegimeShift] = []
    previous = False
    stamps = pd.DatetimeIndex(flagged.index)
    for i, is_flagged in enumerate(flagged.to_numpy()):
        if is_flagged and not previous:
            ts = stamps[i]
            day = ts.floor("D")
            before = level.get(day - pd.Timedelta(hours=1) - pd.Timedelta(hours=window_hours))
            shifts.append(
                RegimeShift(
                    rule="rolling_variance",
                    change_at=day.to_pydatetime(),
                    detected_at=(ts + pd.Timedelta(hours=1)).to_pydatetime(),
                    direction=_level_direction(
                        before, float(level.loc[ts]), at_day_end.iloc[i] > mean.iloc[i]
                    ),
                    level_before=None if before is None or np.isnan(before) else float(before),
                    level_after=float(level.loc[ts]),
                )
            )
        previous = bool(is_flagged)
    return shifts


def _nb_size(values: NDArray[np.float64]) -> float:
    """Conservative NB size r (var = m + m^2 / r) from the reference days: the variance is
    taken at the upper 80% confidence bound of its sample estimate, so an unlucky calm
    reference does not make ordinary days look like a shift; large when not overdispersed."""
    n = len(values)
    m = float(values.mean())
    v = float(values.var(ddof=1)) * (n - 1) / float(stats.chi2.ppf(0.2, n - 1))
    return m * m / (v - m) if v > m * 1.01 else 1e6


def _llr_coefficients(mu: NDArray[np.float64], r: float, ratio: float) -> tuple[Any, Any]:
    """log p_shifted(y) - log p_reference(y) = a * y + b for a NB mean shift mu -> ratio*mu."""
    a = np.log(ratio * (mu + r) / (ratio * mu + r))
    b = r * np.log((mu + r) / (ratio * mu + r))
    return a, b


@lru_cache(maxsize=256)
def cusum_threshold(
    mu: float, r: float, ratio: float, false_alarms_per_year: float, paths: int = 1000
) -> float:
    """Threshold h such that a one-sided CUSUM on in-control NB(mu, r) days fires within a
    year with probability 1 - exp(-false_alarms_per_year) (alarms as a Poisson process)."""
    rng = np.random.default_rng(12345)
    p = r / (r + mu)
    y = rng.negative_binomial(r, p, size=(paths, DAYS_PER_YEAR)).astype("float64")
    a, b = _llr_coefficients(np.array([mu]), r, ratio)
    # CUSUM S_t = X_t - min(0, X_1..X_t) for the random walk X of log-likelihood ratios.
    walk = np.cumsum(a[0] * y + b[0], axis=1)
    floor = np.minimum(np.minimum.accumulate(walk, axis=1), 0.0)
    peak = (walk - floor).max(axis=1)
    alarm_within_year = 1.0 - np.exp(-false_alarms_per_year)
    return float(np.quantile(peak, 1.0 - alarm_within_year))


def _on_grid(value: float, step: float = 1.1) -> float:
    """Round to a 10% log grid so simulated thresholds are reused across references."""
    return float(step ** round(np.log(value) / np.log(step)))


def _weekday_factors(values: NDArray[np.float64], weekdays: NDArray[np.int64]) -> Any:
    level = values.mean()
    factors = np.ones(7)
    for wd in range(7):
        chosen = values[weekdays == wd]
        factors[wd] = (chosen.sum() + WEEKDAY_SHRINKAGE * level) / (
            (len(chosen) + WEEKDAY_SHRINKAGE) * level
        )
    return factors


def cusum_shifts(
    hourly: pd.Series,
    reference_days: int = CUSUM_REFERENCE_DAYS,
    ratio: float = 1.5,
    false_alarms_per_year: float = 1.0,
) -> list[RegimeShift]:
    """The NB CUSUM rule; see the module docstring."""
    daily = daily_counts(hourly)
    y = daily.to_numpy(dtype="float64")
    weekdays = np.asarray(pd.DatetimeIndex(daily.index).day_of_week, dtype="int64")
    days = pd.DatetimeIndex(daily.index)
    shifts: list[RegimeShift] = []
    start = 0
    while start + reference_days <= len(y):
        ref_slice = slice(start, start + reference_days)
        ref = y[ref_slice][y[ref_slice] > 0]
        if len(ref) < reference_days // 2 or ref.mean() <= 0:
            start += reference_days
            continue
        level, r = float(ref.mean()), _nb_size(ref)
        factors = _weekday_factors(y[ref_slice], weekdays[ref_slice])
        side_rate = false_alarms_per_year / 2
        h_up = cusum_threshold(_on_grid(level), _on_grid(r), ratio, side_rate)
        h_down = cusum_threshold(_on_grid(level), _on_grid(r), 1 / ratio, side_rate)
        found = _scan(y, weekdays, start + reference_days, level * factors, r, ratio, h_up, h_down)
        if found is None:
            break
        change, detected, direction = found
        after = y[change : detected + 1]
        shifts.append(
            RegimeShift(
                rule="cusum",
                change_at=days[change].to_pydatetime(),
                detected_at=(days[detected] + pd.Timedelta(days=1)).to_pydatetime(),
                direction=direction,
                level_before=level,
                level_after=float(after[after > 0].mean()) if (after > 0).any() else 0.0,
            )
        )
        start = detected + 1  # the new reference holds only days of the new regime
    return shifts


def _scan(
    y: NDArray[np.float64],
    weekdays: NDArray[np.int64],
    first: int,
    expected_by_weekday: NDArray[np.float64],
    r: float,
    ratio: float,
    h_up: float,
    h_down: float,
) -> tuple[int, int, str] | None:
    """Run both CUSUM sides from day `first`; (change, detection, direction) at the first alarm."""
    mu = expected_by_weekday[weekdays]
    a_up, b_up = _llr_coefficients(mu, r, ratio)
    a_dn, b_dn = _llr_coefficients(mu, r, 1 / ratio)
    p_zero = (r / (r + mu)) ** r
    s_up = s_dn = 0.0
    zero_up = zero_dn = first
    for t in range(first, len(y)):
        if y[t] == 0 and p_zero[t] < OUTAGE_PROBABILITY:
            continue  # a collection outage, not a quiet day
        s_up = max(0.0, s_up + a_up[t] * y[t] + b_up[t])
        s_dn = max(0.0, s_dn + a_dn[t] * y[t] + b_dn[t])
        if s_up == 0.0:
            zero_up = t + 1
        if s_dn == 0.0:
            zero_dn = t + 1
        if s_up > h_up:
            return zero_up, t, "up"
        if s_dn > h_down:
            return zero_dn, t, "down"
    return None


RULES = ("cusum", "rolling_variance")


def too_short(hourly: pd.Series) -> dict[str, str]:
    """Per rule that cannot fire on this series at all yet, what it needs and what there
    is: on a new account's few days both rules find nothing, and "0 alerts" read as "the
    level is steady" when nothing had been checked."""
    days = len(daily_counts(hourly))
    found = {}
    if days <= CUSUM_REFERENCE_DAYS:
        found["cusum"] = (
            f"needs more than {CUSUM_REFERENCE_DAYS} complete days of posts (its reference "
            f"level, then the days checked against it), has {days}"
        )
    stamps = pd.DatetimeIndex(hourly.index)[VARIANCE_WINDOW_HOURS - 1 :]
    day_ends = int(np.count_nonzero(stamps.hour == 23))
    needed = VARIANCE_BASELINE_DAYS // 3 + 1
    if day_ends < needed:
        found["rolling_variance"] = (
            f"needs {needed} days ending after a whole week of hourly counts (the baseline, "
            f"then the day checked against it; {VARIANCE_WINDOW_HOURS // 24 - 1 + needed} "
            f"days), has {day_ends}"
        )
    return found


def detect_shifts(hourly: pd.Series) -> dict[str, list[RegimeShift]]:
    """Every rule's alerts on one dense hourly count series."""
    return {"cusum": cusum_shifts(hourly), "rolling_variance": rolling_variance_shifts(hourly)}
