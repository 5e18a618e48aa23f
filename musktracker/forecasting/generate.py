"""Forecasts as of any moment: choose the model, fit it on the posts before the as-of time
(or reuse the artifact trained for exactly that moment), predict, and store the hourly rows.

Nothing after the as-of time is read, so any past moment can be replayed with no earlier
command. The as-of time is floored to the hour: forecasts are made for whole UTC hours.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from musktracker.db.dialect import insert_ignoring_conflicts, upsert
from musktracker.db.models import Account, Forecast, ModelMetadata, RawTweet
from musktracker.evaluation.backtest import ENSEMBLE
from musktracker.evaluation.ranking import run_ranking
from musktracker.evaluation.results import latest_backtest, model_version, past_window_crps
from musktracker.features.buckets import bucket_span
from musktracker.features.count_rule import ALL_KINDS, CountRule
from musktracker.forecasting.brackets import WindowForecast, window_totals
from musktracker.forecasting.errors import ForecastError, UnfittableModelError
from musktracker.models.base import History, ModelError, PredictiveDistribution, VolumeModel
from musktracker.models.ensemble import DEFAULT_MEMBERS, weights_from_crps
from musktracker.models.history import load_history
from musktracker.models.registry import create_model, load_model, model_names
from musktracker.utc import HOUR, TimeFormatError, ensure_utc, floor_hour, parse_utc, utcnow

QUANTILE_LEVELS: tuple[float, ...] = (
    0.01,
    0.025,
    *(round(0.05 * k, 2) for k in range(1, 20)),
    0.975,
    0.99,
)
"""The 23 levels of public forecasting hubs: 0.01, 0.025, 0.05 to 0.95 by 0.05, 0.975, 0.99."""

DEFAULT_MODEL = "negative_binomial"
DEFAULT_TRAIN_DAYS = 30.0
MAX_HORIZON_HOURS = 90 * 24
"""Longest stretch forecast at once (--horizon, the forecast part of --window): 90 days. The
sample paths of 2,000 x 2,160 hours take 35 MB; far longer horizons would exhaust memory."""
MAX_STEP_HOURS = 366 * 24
"""Longest distance between backtest windows (--step)."""


@dataclass
class PreparedModel:
    """A model fitted on `history`, with its model_metadata row."""

    name: str
    history: History
    metadata: ModelMetadata
    model: VolumeModel
    notes: list[str] = field(default_factory=list)

    def predict(self, horizon: int, n_samples: int, seed: int | None) -> PredictiveDistribution:
        return self.model.predict(horizon, n_samples, seed=seed)


def default_as_of(session: Session, account_id: int) -> datetime:
    """End of the last hour that holds data (never later than the current hour's start)."""
    span = bucket_span(session, account_id)
    if span is None:
        raise ForecastError(
            f"{account_handle(session, account_id)} has no hourly buckets yet; import or "
            "ingest posts first"
        )
    return min(floor_hour(utcnow()), span[1] + HOUR)


def _stamp(moment: datetime) -> str:
    """A time as options are written: 2026-03-01T00:00Z (seconds only when there are some)."""
    moment = ensure_utc(moment)
    if moment.second or moment.microsecond:
        return moment.isoformat().replace("+00:00", "Z")
    return f"{moment:%Y-%m-%dT%H:%M}Z"


def account_handle(session: Session, account_id: int) -> str:
    account = session.get(Account, account_id)
    return f"@{account.username}" if account is not None else f"account {account_id}"


def check_as_of(
    session: Session, account_id: int, as_of: datetime, option: str = "--as-of"
) -> None:
    """Refuse an as-of time the account's data cannot serve. The data end at the end of the
    last stored hourly bucket (buckets are gap-free up to the newest post's hour, so that is
    also where ingestion has got to): hours after it are unknown, and counting them as zero
    posts would forecast far too few. The first hour with posts must be complete before
    anything can be fitted. Times in the future are refused too."""
    as_of = ensure_utc(as_of)
    handle = account_handle(session, account_id)
    span = bucket_span(session, account_id)
    if span is None:
        raise ForecastError(f"{handle} has no hourly buckets yet; import or ingest posts first")
    data_end = span[1] + HOUR
    if as_of > data_end:
        raise ForecastError(
            f"{option} {_stamp(as_of)} is after the end of {handle}'s data "
            f"({_stamp(data_end)}); later hours are unknown, not zero posts"
        )
    now = utcnow()
    if as_of > now:
        raise ForecastError(f"{option} {_stamp(as_of)} is in the future (now {_stamp(now)})")
    earliest = span[0] + HOUR
    if as_of < earliest:
        raise ForecastError(
            f"{option} {_stamp(as_of)} is before {handle}'s data: its first hour with posts "
            f"starts at {_stamp(span[0])}, so the earliest as-of time is {_stamp(earliest)}"
        )


def check_window_start(
    session: Session, account_id: int, start: datetime, option: str = "--window start"
) -> None:
    """Refuse a window that starts before the account's first hour with posts: the posts
    before it were never collected, and counting them as none would report a count that is
    too low as certain."""
    span = bucket_span(session, account_id)
    if span is not None and ensure_utc(start) < span[0]:
        raise ForecastError(
            f"{option} {_stamp(start)} is before {account_handle(session, account_id)}'s "
            f"data: its first hour with posts starts at {_stamp(span[0])}; posts before it "
            "are unknown, not zero"
        )


def resolve_model(
    session: Session, account_id: int, requested: str, as_of: datetime
) -> tuple[str, str | None]:
    """The model to use and, when `best` had to fall back, why."""
    if requested != "best":
        if requested not in model_names() and requested != ENSEMBLE:
            valid = ", ".join([*model_names(), "best"])
            raise ForecastError(f"--model {requested!r} is not a model (valid: {valid})")
        return requested, None
    ranked = run_ranking(session, latest_backtest(session, account_id, as_of))
    if not ranked:
        return DEFAULT_MODEL, (
            f"no backtest before {as_of.isoformat()}; using {DEFAULT_MODEL} "
            "(run `musktracker train` to rank models)"
        )
    return ranked[0][0], None


def fit_key(account_id: int, name: str, history: History, params: dict[str, Any]) -> str:
    """What identifies a forecast fit: the model, its training span and hyperparameters."""
    text = json.dumps(
        {"account": account_id, "model": name, "start": history.start.isoformat(),
         "end": history.end.isoformat(), "params": params},
        sort_keys=True, default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _keyed_row(session: Session, account_id: int, key: str) -> ModelMetadata | None:
    return session.scalars(
        select(ModelMetadata).where(
            ModelMetadata.account_id == account_id, ModelMetadata.fit_key == key
        )
    ).one_or_none()


def _insert_or_get(
    session: Session, account_id: int, name: str, history: History, model: VolumeModel,
    key: str, path: Path,
) -> ModelMetadata:
    """Insert the fit's model_metadata row unless a concurrent request inserted the same key
    first (INSERT ... ON CONFLICT DO NOTHING on the unique (account_id, fit_key): the second
    insert waits for the first transaction and then does nothing); returns the row."""
    values = {
        "account_id": account_id,
        "model_name": name,
        "model_version": model_version(history.end),
        "trained_at": utcnow(),
        "training_start_date": history.start,
        "training_end_date": history.end,
        "hyperparameters": json.dumps({"model": model.get_params()}, sort_keys=True,
                                      default=str),
        "artifact_path": str(path),
        "fit_key": key,
    }
    insert_ignoring_conflicts(session, ModelMetadata, [values], ["account_id", "fit_key"])
    row = _keyed_row(session, account_id, key)
    if row is None:  # pragma: no cover - the insert or the conflicting row must be there
        raise ForecastError(f"could not store the {name} model fitted for {history.end}")
    return row


def _stored_artifact(
    session: Session, account_id: int, name: str, history: History
) -> ModelMetadata | None:
    """A model_metadata row with an artifact trained on exactly this history span (the final
    fit of a backtest, or an earlier forecast's fit)."""
    rows = session.scalars(
        select(ModelMetadata)
        .where(
            ModelMetadata.account_id == account_id,
            ModelMetadata.model_name == name,
            ModelMetadata.training_end_date == history.end,
            ModelMetadata.training_start_date == history.start,
            ModelMetadata.artifact_path.is_not(None),
        )
        .order_by(ModelMetadata.trained_at.desc())
    ).all()
    for row in rows:
        if row.artifact_path and Path(row.artifact_path).is_file():
            return row
    return None


def _left_by_an_earlier_run(
    name: str, path: Path, params: dict[str, Any]
) -> VolumeModel | None:
    """The fit saved at `path` by a run that stopped before storing its row, if it is a
    readable `name` model with these hyperparameters (anything else is fitted again)."""
    if not path.is_file():
        return None
    try:
        model = load_model(name, path)
    except Exception:  # an unreadable leftover is simply fitted again
        return None
    expected = create_model(name, **params).get_params()
    return model if model.get_params() == expected and model.state_ is not None else None


def _fitted(
    session: Session,
    account_id: int,
    name: str,
    history: History,
    artifact_dir: Path,
    params: dict[str, Any],
) -> tuple[VolumeModel, ModelMetadata]:
    """The model fitted on `history` with `params`, and its one model_metadata row: a stored
    artifact of this fit (or, without params, a backtest's final fit on the same span) is
    loaded; otherwise the model is fitted and its row inserted or, when a concurrent request
    got there first, that request's row is used (the fits are the same)."""
    key = fit_key(account_id, name, history, params)
    keyed = _keyed_row(session, account_id, key)
    stored = keyed
    if stored is None and not params:
        stored = _stored_artifact(session, account_id, name, history)
    if stored is not None and stored.artifact_path and Path(stored.artifact_path).is_file():
        return load_model(name, Path(stored.artifact_path)), stored
    # The file is named by the fit alone: a forecast stopped between saving it and its
    # commit (killed, or failing after the fit) left a file no row names, and with a random
    # part in the name every rerun left another. Now the rerun finds it and uses the fit
    # (its write was atomic, so it is whole) instead of fitting again.
    path = artifact_dir / str(account_id) / f"{name}-{model_version(history.end)}-{key[:16]}.pkl"
    model = _left_by_an_earlier_run(name, path, params)
    if model is None:
        model = create_model(name, **params).fit(history)
        model.save(path)
    row = _insert_or_get(session, account_id, name, history, model, key, path)
    if row.artifact_path != str(path):
        if row.artifact_path and Path(row.artifact_path).is_file():
            path.unlink(missing_ok=True)  # the other request's artifact holds the same fit
        else:
            row.artifact_path = str(path)  # its artifact is gone: ours replaces it
    return model, row


def _ensemble_params(
    session: Session, account_id: int, as_of: datetime
) -> tuple[dict[str, Any], list[str]]:
    """The ensemble's weights: the CRPS-optimal weights (and sharpness) of the newest
    backtest run with the ensemble trained by `as_of` (one run, see `latest_backtest`);
    else its default members weighted by their CRPS on stored backtest windows that ended
    by `as_of`; else equal weights (with a note)."""
    for row in latest_backtest(session, account_id, as_of, containing=ENSEMBLE):
        stored = json.loads(row.hyperparameters or "{}").get("model", {})
        if row.model_name == ENSEMBLE and stored.get("weights"):
            return {"members": stored["members"], "weights": stored["weights"],
                    "sharpness": stored.get("sharpness", 1.0)}, []
    members = [m.strip() for m in DEFAULT_MEMBERS.split(",")]
    past = {m: v for m, v in past_window_crps(session, account_id, members, as_of).items() if v}
    if not past:
        return {}, [
            f"no stored backtest windows before {as_of.isoformat()}: the ensemble weighs its "
            "default members equally (run `musktracker train` to weigh them by CRPS)"
        ]
    return {"members": ",".join(sorted(past)), "weights": weights_from_crps(past)}, []


def prepare_model(
    session: Session,
    account_id: int,
    name: str,
    as_of: datetime,
    train_days: float,
    artifact_dir: Path,
    rule: CountRule = ALL_KINDS,
) -> PreparedModel:
    """Fit (or load the artifact trained for exactly this span) `name` on the `train_days` of
    posts before `as_of`."""
    history = load_history(session, account_id, floor_hour(as_of), train_days, rule)
    params: dict[str, Any] = {}
    notes: list[str] = []
    if name == ENSEMBLE:
        params, notes = _ensemble_params(session, account_id, history.end)
    try:
        model, row = _fitted(session, account_id, name, history, artifact_dir, params)
    except ModelError as exc:
        hours, handle = len(history.counts), account_handle(session, account_id)
        if history.start > floor_hour(history.end - timedelta(days=train_days)):
            # the account's posts start later: more --train-days cannot help
            raise UnfittableModelError(
                f"--model {name}", name,
                f"{name} could not be fitted on {handle}'s posts: they start in the hour "
                f"from {_stamp(history.start)}, only {hours} hours before "
                f"{_stamp(history.end)}: {exc}",
            ) from None
        raise UnfittableModelError(
            f"--train-days {train_days:g}", name,
            f"{name} could not be fitted on the {hours} hours of {handle}'s posts before "
            f"{_stamp(history.end)}: {exc}",
        ) from None
    return PreparedModel(name, history, row, model, notes)


def store_hourly(
    session: Session, account_id: int, prepared: PreparedModel, forecast: PredictiveDistribution
) -> int:
    """Upsert one `forecasts` row per hour (mean and 95% bounds); returns rows written."""
    lower, upper = forecast.interval(0.95)
    now = utcnow()
    rows = [
        {
            "account_id": account_id,
            "model_metadata_id": prepared.metadata.id,
            "forecast_time": prepared.history.end,
            "target_time": target.to_pydatetime(),
            "predicted_count": float(forecast.mean[i]),
            "lower_bound_95": float(lower[i]),
            "upper_bound_95": float(upper[i]),
            "created_at": now,
        }
        for i, target in enumerate(forecast.target_times)
    ]
    upsert(
        session,
        Forecast,
        rows,
        key=["model_metadata_id", "forecast_time", "target_time"],
        update=["predicted_count", "lower_bound_95", "upper_bound_95", "created_at"],
    )
    return len(rows)


def observed_posts(
    session: Session, account_id: int, start: datetime, end: datetime, rule: CountRule
) -> int:
    """Posts (of the rule's kinds, not deleted) created in [start, end)."""
    if end <= start:
        return 0
    count = session.scalar(
        select(func.count()).where(
            RawTweet.account_id == account_id,
            RawTweet.is_deleted.is_(False),
            RawTweet.kind.in_([k.value for k in rule.kinds]),
            RawTweet.created_at >= start,
            RawTweet.created_at < end,
        )
    )
    return int(count or 0)


def window_horizon(end: datetime, as_of: datetime) -> int:
    """Hours to forecast for a window ending at `end` seen from `as_of` (0 when it is over);
    at most MAX_HORIZON_HOURS, or a ForecastError naming --window."""
    first_hour = floor_hour(ensure_utc(as_of))
    horizon = max(0, int(-(-(ensure_utc(end) - first_hour) // HOUR)))
    if horizon > MAX_HORIZON_HOURS:
        raise ForecastError(
            f"--window ending {_stamp(end)}: at most {MAX_HORIZON_HOURS} hours "
            f"({MAX_HORIZON_HOURS // 24} days) after the as-of time {_stamp(first_hour)} "
            f"can be forecast, not {horizon}"
        )
    return horizon


def window_forecast(
    session: Session,
    account_id: int,
    start: datetime,
    end: datetime,
    as_of: datetime,
    prepare: PreparedModel | None,
    n_samples: int,
    seed: int | None,
    rule: CountRule = ALL_KINDS,
) -> tuple[WindowForecast, PredictiveDistribution | None]:
    """Distribution of posts in [start, end) seen from `as_of`: what is observed is counted,
    only the rest is forecast (from the hour containing `as_of`)."""
    start, end, as_of = ensure_utc(start), ensure_utc(end), ensure_utc(as_of)
    observed = observed_posts(session, account_id, start, min(as_of, end), rule)
    if as_of >= end or prepare is None:
        return WindowForecast(start, end, observed, np.full(n_samples, observed, "int64")), None
    first_hour = prepare.history.end
    horizon = window_horizon(end, first_hour)
    forecast = prepare.predict(horizon, n_samples, seed)
    remainder = window_totals(
        forecast.samples, forecast.target_times, max(start, as_of), end, seed=seed
    )
    return WindowForecast(start, end, observed, observed + remainder), forecast


def parse_horizon(
    text: str, option: str = "--horizon", maximum: int = MAX_HORIZON_HOURS
) -> int:
    """`24h`, `7d`, `2w` or a number of hours, as whole hours from 1 to `maximum`."""
    raw = text.strip().lower()
    units = {"h": 1, "d": 24, "w": 168}
    try:
        hours = float(raw[:-1]) * units[raw[-1]] if raw and raw[-1] in units else float(raw)
    except ValueError:
        raise ForecastError(f"{option} {text!r} is not a duration such as 24h or 7d") from None
    if not math.isfinite(hours) or hours < 1 or hours != int(hours):
        raise ForecastError(f"{option} {text!r} must be a whole number of hours, at least 1")
    if hours > maximum:
        raise ForecastError(
            f"{option} {text!r}: at most {maximum} hours ({maximum // 24} days)"
        )
    return int(hours)


TIME_EXAMPLE = "2026-12-04T12:00-05:00 (noon ET; -04:00 in summer) or 2026-12-04T17:00Z"


def _parse_time(text: str, field: str) -> datetime:
    """`text` as an aware UTC time, or a ForecastError naming `field`; text that is no time
    at all (`noon ET`) gets an example of one."""
    try:
        return parse_utc(text, field)
    except TimeFormatError as exc:
        raise ForecastError(f"{exc}; write it as {TIME_EXAMPLE}") from None
    except ValueError as exc:
        raise ForecastError(str(exc)) from None


def parse_as_of(text: str) -> datetime:
    """`--as-of`: an ISO 8601 time with a zone."""
    return _parse_time(text, "--as-of")


def parse_window(text: str) -> tuple[datetime, datetime]:
    """`START/END`, both ISO 8601 times with a zone, END after START."""
    parts = text.split("/")
    if len(parts) != 2:
        raise ForecastError(
            f"--window {text!r}: give START/END, e.g. 2026-02-20T17:00Z/2026-02-27T17:00Z"
        )
    start = _parse_time(parts[0], "--window start")
    end = _parse_time(parts[1], "--window end")
    if end <= start:
        raise ForecastError(f"--window {text!r}: the end must be after the start")
    return start, end
