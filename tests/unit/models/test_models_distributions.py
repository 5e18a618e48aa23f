"""The shared NB helpers: pmf normalisation, sampling moments, dispersion estimation."""

from __future__ import annotations

import numpy as np
import pytest

from musktracker.models.distributions import fit_nb_dispersion, nb_log_pmf, nb_sample


@pytest.mark.parametrize(("mean", "dispersion"), [(0.3, 0.0), (4.0, 0.5), (20.0, 3.0)])
def test_nb_pmf_sums_to_one_and_has_the_right_mean(mean: float, dispersion: float) -> None:
    k = np.arange(20000)
    pmf = np.exp(nb_log_pmf(k, mean, dispersion))
    assert pmf.sum() == pytest.approx(1.0, abs=1e-6)
    assert (k * pmf).sum() == pytest.approx(mean, rel=1e-4)


def test_sampling_and_ml_dispersion_recover_the_truth() -> None:
    rng = np.random.default_rng(5)
    means = rng.uniform(0.5, 15.0, 40000)
    draws = nb_sample(rng, means, 1.2)
    assert draws.mean() == pytest.approx(means.mean(), rel=0.03)
    assert fit_nb_dispersion(draws, means) == pytest.approx(1.2, rel=0.06)
    poisson = rng.poisson(means)
    assert fit_nb_dispersion(poisson, means) < 0.02
