"""Every volume model by name, so the CLI, backtests and artifacts refer to models by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from musktracker.models.base import ModelError, VolumeModel
from musktracker.models.baselines import HourOfDayMean, SeasonalNaiveDaily, SeasonalNaiveWeekly
from musktracker.models.ensemble import EnsembleModel
from musktracker.models.hawkes import HawkesModel
from musktracker.models.negative_binomial import NegativeBinomialModel
from musktracker.models.sarimax import SarimaxModel

MODELS: dict[str, type[VolumeModel]] = {
    cls.name: cls
    for cls in (
        SeasonalNaiveDaily,
        SeasonalNaiveWeekly,
        HourOfDayMean,
        NegativeBinomialModel,
        HawkesModel,
        SarimaxModel,
        EnsembleModel,
    )
}

BASELINES = ("seasonal_naive_daily", "seasonal_naive_weekly", "hour_of_day_mean")
"""Models that count as baselines when comparing results."""


class UnknownModelError(ModelError):
    """A model name that is not in the registry."""


def model_names() -> list[str]:
    return list(MODELS)


def model_class(name: str) -> type[VolumeModel]:
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown model {name!r} (valid: {', '.join(model_names())})"
        ) from None


def create_model(name: str, **hyperparameters: Any) -> VolumeModel:
    """A new, unfitted model by registry name."""
    return model_class(name)(**hyperparameters)


def load_model(name: str, path: Path) -> VolumeModel:
    """Read a saved artifact of the named model."""
    return model_class(name).load(path)
