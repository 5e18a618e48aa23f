"""A weighted mixture of member models, weights chosen by CRPS on past windows only.

For an integer count with predictive CDF F, CRPS(F, y) = sum_k (F(k) - 1{y <= k})^2. A mixture
F = sum_i w_i F_i with sum w_i = 1 gives sum_k (sum_i w_i (F_i(k) - 1{y <= k}))^2, a least
squares problem in w; the weights minimising the mean CRPS over past (forecast, actual) pairs,
with w >= 0 and sum w = 1, come from one non-negative least squares solve. Only the Gram
matrix of those rows matters, so each window is reduced to a k x k matrix once.

`walk_forward_weights` gives each backtest window weights from the windows whose targets ended
before it started, so a window being scored never informs its own weights.

A linear pool of calibrated forecasts is over-dispersed (Gneiting and Ranjan 2013: the
spread between the members' means adds to their own). `sharpened` applies their remedy, the
beta-transformed linear pool, to whole paths ranked by window total; its `sharpness` is
chosen the same walk-forward way, by the CRPS of past window totals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import numpy as np
from scipy.optimize import nnls
from scipy.special import logsumexp
from scipy.stats import beta

from musktracker.evaluation.metrics import crps_samples
from musktracker.models.base import History, ModelError, PredictiveDistribution, VolumeModel
from musktracker.utc import HOUR

DEFAULT_MEMBERS = "negative_binomial,hawkes,sarimax,hour_of_day_mean"
_SUM_TO_ONE_WEIGHT = 1e3
SHARPNESS_GRID = (0.8, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0)
MIN_WINDOWS_FOR_SHARPNESS = 5  # fewer past windows keep the plain mixture (sharpness 1)


def _cdf_on_grid(samples: np.ndarray, grid_size: int) -> np.ndarray:
    """Empirical CDF per hour at k = 0..grid_size-1: shape (horizon, grid_size)."""
    clipped = np.minimum(samples, grid_size - 1)
    horizon = samples.shape[1]
    cells = clipped + grid_size * np.arange(horizon)[None, :]
    pmf = np.bincount(cells.ravel(), minlength=grid_size * horizon).reshape(horizon, grid_size)
    return np.asarray(np.cumsum(pmf, axis=1) / samples.shape[0])


def crps_rows(
    forecasts: Mapping[str, PredictiveDistribution], actual: np.ndarray, names: Sequence[str]
) -> np.ndarray:
    """Rows of F_i(k) - 1{y <= k} for every hour and k (one column per member)."""
    grid = int(max(max(int(f.samples.max()) for f in forecasts.values()), int(actual.max()))) + 2
    step = (np.arange(grid)[None, :] >= np.asarray(actual)[:, None]).astype("float64")
    columns = [(_cdf_on_grid(forecasts[n].samples, grid) - step).ravel() for n in names]
    return np.column_stack(columns)


def crps_gram(
    forecasts: Mapping[str, PredictiveDistribution], actual: np.ndarray, names: Sequence[str]
) -> tuple[np.ndarray, int]:
    """R^T R of one window's `crps_rows` R, and R's row count: the mean CRPS of any mixture
    of these members is w^T (R^T R) w / rows, so windows add up by summing their Gram
    matrices, and walk-forward weights cost O(windows) instead of O(windows^2)."""
    rows = crps_rows(forecasts, actual, names)
    return rows.T @ rows, len(rows)


def weights_from_gram(names: Sequence[str], gram: np.ndarray, n_rows: int) -> dict[str, float]:
    """Mixture weights minimising w^T G w with w >= 0 and sum w = 1: one non-negative least
    squares solve on a square root of G plus a heavily weighted sum-to-one row."""
    eigenvalues, vectors = np.linalg.eigh(gram)
    root = np.sqrt(np.clip(eigenvalues, 0.0, None))[:, None] * vectors.T
    scale = _SUM_TO_ONE_WEIGHT * np.sqrt(n_rows)
    design = np.vstack([root, np.full((1, len(names)), scale)])
    target = np.concatenate([np.zeros(len(root)), [scale]])
    weights, _ = nnls(design, target)
    return _normalised(dict(zip(names, weights, strict=True)))


def weights_from_forecasts(
    past: Sequence[tuple[Mapping[str, PredictiveDistribution], np.ndarray]],
) -> dict[str, float]:
    """Mixture weights minimising the mean CRPS of past (member forecasts, actual) pairs."""
    if not past:
        raise ModelError("weights_from_forecasts needs at least one past window")
    names = sorted(past[0][0])
    grams = [crps_gram(forecasts, actual, names) for forecasts, actual in past]
    return weights_from_gram(
        names, np.sum([g for g, _ in grams], axis=0), sum(n for _, n in grams)
    )


def weights_from_crps(past_crps: Mapping[str, Sequence[float]]) -> dict[str, float]:
    """Weights from per-model past CRPS alone: inversely proportional to the squared mean.

    A fallback when only scores are stored; `weights_from_forecasts` is optimal when the
    past forecasts themselves are available.
    """
    means = {name: float(np.mean(scores)) for name, scores in past_crps.items() if len(scores)}
    if not means:
        raise ModelError("weights_from_crps needs past CRPS for at least one model")
    return _normalised({name: 1.0 / max(m, 1e-9) ** 2 for name, m in means.items()})


def past_windows(windows: Sequence[Mapping[str, PredictiveDistribution]]) -> list[list[int]]:
    """For each window, the indices of the windows whose target hours all ended by its start."""
    ends = [_end(f) for f in windows]
    return [[j for j, end in enumerate(ends) if end <= _start(f)] for f in windows]


def walk_forward_weights(
    windows: Sequence[Mapping[str, PredictiveDistribution]], actuals: Sequence[np.ndarray]
) -> list[dict[str, float]]:
    """Weights for each window from the windows whose target hours all ended by its start
    (equal weights when there is none yet)."""
    if len(windows) != len(actuals):
        raise ModelError(f"{len(windows)} windows but {len(actuals)} actual series")
    if not windows:
        return []
    names = sorted(windows[0])
    grams = [crps_gram(f, actual, names) for f, actual in zip(windows, actuals, strict=True)]
    result = []
    for forecasts, past in zip(windows, past_windows(windows), strict=True):
        if past:
            gram = np.sum([grams[j][0] for j in past], axis=0)
            result.append(weights_from_gram(names, gram, sum(grams[j][1] for j in past)))
        else:
            result.append(_normalised(dict.fromkeys(forecasts, 1.0)))
    return result


def _sharpened_order(totals: np.ndarray, sharpness: float, rng: np.random.Generator) -> np.ndarray:
    """Path indices whose totals follow G = B(F): F the paths' empirical CDF of totals, B the
    CDF of Beta(sharpness, sharpness), at evenly spaced levels (ties broken at random)."""
    n = len(totals)
    ranked = np.lexsort((rng.random(n), totals))
    levels = beta.ppf((np.arange(n) + 0.5) / n, sharpness, sharpness)
    return np.asarray(ranked[np.minimum((levels * n).astype("int64"), n - 1)])


def sharpened(
    forecast: PredictiveDistribution, sharpness: float, rng: np.random.Generator
) -> PredictiveDistribution:
    """The beta-transformed pool on whole paths: sharpness > 1 concentrates the paths around
    the median window total (narrower intervals), < 1 spreads them, 1 changes nothing. Paths
    stay whole integer paths, so hourly marginals narrow with the totals; their log pmf then
    comes from the samples."""
    if not sharpness > 0:
        raise ModelError(f"ensemble sharpness must be positive, got {sharpness}")
    if sharpness == 1.0:
        return forecast
    picks = _sharpened_order(forecast.total(), sharpness, rng)
    return PredictiveDistribution(forecast.start, forecast.samples[rng.permutation(picks)])


def sharpness_crps(forecast: PredictiveDistribution, actual: np.ndarray) -> np.ndarray:
    """CRPS of the window total for every value of `SHARPNESS_GRID` (deterministic)."""
    totals = np.sort(forecast.total())
    rng = np.random.default_rng(0)  # only breaks ties between equal totals
    draws = [totals[_sharpened_order(totals, a, rng)] for a in SHARPNESS_GRID]
    return np.asarray(crps_samples(np.column_stack(draws), np.full(len(draws), actual.sum())))


def best_sharpness(scores: np.ndarray) -> float:
    """The grid value with the lowest mean past total CRPS (rows: windows); 1 with fewer
    than `MIN_WINDOWS_FOR_SHARPNESS` windows, too few to tell."""
    if len(scores) < MIN_WINDOWS_FOR_SHARPNESS:
        return 1.0
    return float(SHARPNESS_GRID[int(np.argmin(np.mean(scores, axis=0)))])


def walk_forward_sharpness(
    windows: Sequence[Mapping[str, PredictiveDistribution]], scores: np.ndarray
) -> list[float]:
    """Sharpness for each window from the `sharpness_crps` rows (one per window) of the
    windows that ended by its start."""
    return [best_sharpness(scores[past]) for past in past_windows(windows)]


def _start(forecasts: Mapping[str, PredictiveDistribution]) -> datetime:
    return min(f.start for f in forecasts.values())


def _end(forecasts: Mapping[str, PredictiveDistribution]) -> datetime:
    return max(f.target_times[-1].to_pydatetime() + HOUR for f in forecasts.values())


def _normalised(weights: Mapping[str, float]) -> dict[str, float]:
    total = float(sum(weights.values()))
    if not total > 0:
        raise ModelError(f"ensemble weights must have a positive sum, got {dict(weights)}")
    return {name: float(w) / total for name, w in weights.items()}


def mixture(
    forecasts: Mapping[str, PredictiveDistribution],
    weights: Mapping[str, float],
    rng: np.random.Generator,
    n_samples: int | None = None,
) -> PredictiveDistribution:
    """The weighted mixture of member forecasts: each path is a whole path of one member, so
    within-path dependence (and hence window totals) is kept."""
    missing = sorted(set(weights) - set(forecasts))
    if missing:
        raise ModelError(f"ensemble weights name models without forecasts: {missing}")
    names = [n for n, w in weights.items() if w > 0]
    w = np.array([weights[n] for n in names], dtype="float64")
    w /= w.sum()
    members = [forecasts[n] for n in names]
    if len({(m.start, m.horizon) for m in members}) != 1:
        raise ModelError("ensemble members must forecast the same hours")
    n_samples = n_samples or members[0].n_samples
    picks = rng.multinomial(n_samples, w)
    paths = np.vstack(
        [
            m.samples[rng.integers(0, m.n_samples, size=k)]
            for m, k in zip(members, picks, strict=True)
        ]
    )
    mean = np.sum([wi * m.mean for wi, m in zip(w, members, strict=True)], axis=0)

    def log_pmf(observed: np.ndarray) -> np.ndarray:
        parts = np.stack([m.log_pmf(observed) for m in members])
        return np.asarray(logsumexp(parts, axis=0, b=w[:, None]))

    return PredictiveDistribution(
        members[0].start, paths[rng.permutation(n_samples)], mean, log_pmf
    )


@dataclass(frozen=True)
class EnsembleState:
    members: dict[str, VolumeModel]
    skipped: list[str]  # why members that could not be fitted were left out


class EnsembleModel(VolumeModel):
    """Mixture of member models' predictive distributions.

    Assumes no single model is best everywhere and that weights which minimised CRPS on past
    windows carry over to the next one. `weights` (model name -> weight, e.g. from
    `walk_forward_weights` or `weights_from_crps` on past windows) defaults to equal weights.
    `sharpness` (from `walk_forward_sharpness`; default 1, the plain mixture) narrows the
    pool's window totals (`sharpened`). A member that cannot fit the history (too short,
    say) is left out and the remaining weights renormalised.
    """

    name = "ensemble"
    defaults: ClassVar[dict[str, Any]] = {
        "members": DEFAULT_MEMBERS, "weights": None, "sharpness": 1.0,
    }

    def __init__(self, **hyperparameters: Any) -> None:
        super().__init__(**hyperparameters)
        from musktracker.models.registry import model_names

        names = self.member_names
        unknown = sorted(set(names) - set(model_names()) | ({self.name} & set(names)))
        if unknown or not names:
            raise ModelError(
                f"ensemble: members={self.params['members']!r} has bad names {unknown}"
            )
        weights = self.params["weights"]
        if weights is not None:
            extra = sorted(set(weights) - set(names))
            if extra:
                raise ModelError(f"ensemble: weights name models that are not members: {extra}")
            self.params["weights"] = _normalised({n: float(weights.get(n, 0.0)) for n in names})
        sharpness = self.params["sharpness"]
        if not 0 < sharpness < float("inf"):
            raise ModelError(f"ensemble: sharpness={sharpness!r} must be a positive number")

    @property
    def member_names(self) -> list[str]:
        return [n.strip() for n in str(self.params["members"]).split(",") if n.strip()]

    @property
    def weights(self) -> dict[str, float]:
        given = self.params["weights"]
        return (
            dict(given) if given is not None else _normalised(dict.fromkeys(self.member_names, 1.0))
        )

    def _fit(self, history: History) -> EnsembleState:
        from musktracker.models.registry import create_model

        fitted: dict[str, VolumeModel] = {}
        problems = []
        for name, weight in self.weights.items():
            if weight <= 0:
                continue
            try:
                fitted[name] = create_model(name).fit(history)
            except ModelError as exc:  # e.g. too little history for this member
                problems.append(str(exc))
        if not fitted:
            raise ModelError("ensemble: no member could be fitted: " + "; ".join(problems))
        return EnsembleState(fitted, problems)

    def _predict(
        self, horizon: int, n_samples: int, rng: np.random.Generator
    ) -> PredictiveDistribution:
        state: EnsembleState = self.state_
        seeds = rng.integers(0, 2**32, size=len(state.members))
        forecasts = {
            name: model.predict(horizon, n_samples, int(seed))
            for (name, model), seed in zip(state.members.items(), seeds, strict=True)
        }
        weights = {n: w for n, w in self.weights.items() if n in forecasts}
        pooled = mixture(forecasts, weights, rng, n_samples)
        return sharpened(pooled, self.params["sharpness"], rng)
