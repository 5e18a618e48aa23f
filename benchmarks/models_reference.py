"""Our NB GLM and SARIMAX against direct statsmodels reference fits on the same real data.

For four as-of dates on ../shared/data/elonmusk/posts.csv it prints:
1. NB2: our GLM-with-profiled-dispersion (statsmodels GLM/IRLS alternating with a 1-d ML
   dispersion) against statsmodels' discrete NegativeBinomial, which maximises the joint
   likelihood of coefficients and dispersion directly, on the same regressors and offset;
2. SARIMAX: our bounded fit (maxiter 50) against an unbounded statsmodels fit of the same
   specification, and our joint forecast paths (MA-weight construction) against
   statsmodels' own state-space simulation: the 95% interval of the 24-hour total on the
   sqrt scale, where both are Gaussian.

Run: .venv/bin/python -m benchmarks.models_reference [--posts FILE]
"""

from __future__ import annotations

import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # as a file: see common.py

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.tsa.arima_process import arma2ma

from benchmarks.common import posts_only_benchmark
from musktracker.models.base import single_threaded_blas
from musktracker.models.distributions import nb_log_pmf
from musktracker.models.history import history_from_posts
from musktracker.models.negative_binomial import fit_nb_glm, training_data
from musktracker.models.sarimax import SarimaxModel, exogenous

AS_OF = [
    datetime(2023, 9, 1, tzinfo=UTC),
    datetime(2024, 6, 1, tzinfo=UTC),
    datetime(2025, 6, 1, tzinfo=UTC),
    datetime(2026, 2, 22, tzinfo=UTC),
]


def nb_table(posts: pd.DatetimeIndex) -> None:
    print("## NB2 GLM: ours vs statsmodels NegativeBinomial (joint MLE), 30-day windows\n")
    print(
        "| as of | rows | ours s | ref s | dispersion ours | dispersion ref "
        "| log-lik ours | log-lik ref | max coef diff |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for end in AS_OF:
        y, x, offset, _ = training_data(history_from_posts(posts, end, 30), harmonics=3)
        start = time.perf_counter()
        ours, dispersion = fit_nb_glm(y, x, offset)
        ours_s = time.perf_counter() - start
        ours_llf = float(nb_log_pmf(y, ours.mu, dispersion).sum())
        start = time.perf_counter()
        ref = sm.NegativeBinomial(y, x, offset=offset, loglike_method="nb2").fit(
            disp=0, maxiter=500
        )
        ref_s = time.perf_counter() - start
        diff = np.abs(np.asarray(ours.params) - np.asarray(ref.params)[:-1]).max()
        print(
            f"| {end:%Y-%m-%d} | {len(y)} | {ours_s:.3f} | {ref_s:.3f} | {dispersion:.4f} "
            f"| {ref.params[-1]:.4f} | {ours_llf:.3f} | {ref.llf:.3f} | {diff:.2e} |"
        )


def sarimax_table(posts: pd.DatetimeIndex) -> None:
    print("\n## SARIMAX(1,0,1) + daily harmonics on sqrt(y + 3/8), last 14 days\n")
    print(
        "| as of | ours s (maxiter 50) | ref s (maxiter 1000) | log-lik ours | log-lik ref "
        "| 24 h sqrt-total 95% ours | same, statsmodels simulate |"
    )
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for end in AS_OF:
        history = history_from_posts(posts, end, 30)
        start = time.perf_counter()
        model = SarimaxModel().fit(history)
        ours_s = time.perf_counter() - start
        results = model.state_.results
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = sm.tsa.SARIMAX(
                results.model.endog, exog=results.model.exog, order=(1, 0, 1), trend="c"
            ).fit(disp=False, maxiter=1000)
        ref_s = time.perf_counter() - start
        times = pd.date_range(end, periods=24, freq="h", tz="UTC")
        future = exogenous(times, [])
        forecast = results.get_forecast(24, exog=future)
        mean = np.asarray(forecast.predicted_mean)
        sd = np.sqrt(np.asarray(forecast.var_pred_mean))
        # Our construction on the Gaussian scale: MA weights scaled to the forecast sd.
        psi = arma2ma(results.polynomial_ar, results.polynomial_ma, lags=24)
        lag = np.arange(24)[:, None] - np.arange(24)[None, :]
        weights = np.where(lag >= 0, psi[np.clip(lag, 0, None)], 0.0)
        weights *= (sd / np.sqrt((weights**2).sum(axis=1)))[:, None]
        ours_totals = (mean + rng.standard_normal((4000, 24)) @ weights.T).sum(axis=1)
        simulated = results.simulate(24, repetitions=4000, anchor="end", exog=future)
        ref_totals = np.asarray(simulated).reshape(24, 4000).sum(axis=0)
        lo, hi = np.quantile(ours_totals, [0.025, 0.975])
        rlo, rhi = np.quantile(ref_totals, [0.025, 0.975])
        print(
            f"| {end:%Y-%m-%d} | {ours_s:.3f} | {ref_s:.3f} | {results.llf:.3f} "
            f"| {ref.llf:.3f} | {lo:.1f} to {hi:.1f} | {rlo:.1f} to {rhi:.1f} |"
        )


def main(argv: list[str] | None = None) -> None:
    posts = posts_only_benchmark(__doc__, argv)
    with single_threaded_blas():
        nb_table(posts)
        sarimax_table(posts)


if __name__ == "__main__":
    main()
