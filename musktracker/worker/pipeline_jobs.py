"""The scheduled work of the other parts, as jobs (functions of Settings) for the registry in
`worker/jobs.py`: X ingestion, hourly stored forecasts and their actuals, weekly training
with backtests, daily regime checks, and outbox delivery. Each calls the same library
function as its CLI command, so a job and `musktracker <command>` cannot disagree.

Every job is idempotent: ingestion stores posts with insert-or-ignore, forecasts are upserts
keyed by (model, forecast time, target time), actuals are recomputed from buckets, regime
detection replaces its rows, training skips an account already trained on the same data end,
and the outbox claims each due row once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from celery import Celery
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from musktracker.accounts import AccountError, list_accounts
from musktracker.config import Settings, SettingsError
from musktracker.db.models import Account, BacktestResult
from musktracker.db.session import get_engine, require_schema, session_scope
from musktracker.evaluation.backtest import BacktestPlan
from musktracker.evaluation.regime_store import detect_and_store
from musktracker.evaluation.training import parse_models, train_account
from musktracker.features.count_rule import ALL_KINDS
from musktracker.forecasting.accuracy import fill_actuals
from musktracker.forecasting.errors import ForecastError
from musktracker.forecasting.generate import default_as_of
from musktracker.forecasting.service import ForecastOptions, hourly_forecast
from musktracker.ingest.client import XClient
from musktracker.ingest.pipeline import Ingestor
from musktracker.logging import get_logger
from musktracker.models.registry import model_names
from musktracker.signals.factory import build_dispatcher
from musktracker.utc import floor_hour
from musktracker.worker.locks import database_lock

log = get_logger(__name__)

T = TypeVar("T")

REMOVED = "skipped: no longer tracked"
"""A job's result for an account removed while the job ran."""

FORECAST_SAMPLES = 1000
"""Sample paths of the stored hourly forecasts (only mean and 95% bounds are stored)."""


def check_model_settings(settings: Settings) -> None:
    """Refuse WORKER_FORECAST_MODEL or WORKER_TRAIN_MODELS naming no model, naming the
    setting: otherwise the hourly job skips every account, and the weekly one fails only
    on its Sunday, each blaming a `--model` option the operator never gave."""
    forecast = settings.worker_forecast_model
    if forecast != "best" and forecast not in model_names():
        valid = ", ".join(["best", *model_names()])
        raise SettingsError(f"WORKER_FORECAST_MODEL={forecast!r} is not a model (valid: {valid})")
    try:
        parse_models(settings.worker_train_models)
    except ForecastError:
        valid = ", ".join(["all", *model_names()])
        raise SettingsError(
            f"WORKER_TRAIN_MODELS={settings.worker_train_models!r} is not `all` or a comma list "
            f"of models (valid: {valid})"
        ) from None


def _engine(settings: Settings) -> Engine:
    engine = get_engine(settings.database_url)
    require_schema(engine)
    return engine


def _usernames(engine: Engine) -> list[str]:
    with session_scope(engine) as session:
        return [a.username for a in list_accounts(session)]


def _per_account(
    settings: Settings, label: str, step: Callable[[Session, Account], T]
) -> dict[str, T | str]:
    """Run `step` for every account in its own transaction. An account with nothing to work
    on yet (no posts: ForecastError), or removed since the list was read (`accounts remove`
    during a long job), is logged and skipped, not a failed job."""
    engine = _engine(settings)
    results: dict[str, T | str] = {}
    with session_scope(engine) as session:
        accounts = [(a.id, a.username) for a in list_accounts(session)]
    for account_id, username in accounts:
        try:
            with session_scope(engine) as session:
                account = session.get(Account, account_id)  # ids are never reused
                if account is None:
                    results[username] = REMOVED
                else:
                    results[username] = step(session, account)
        except ForecastError as exc:
            results[username] = f"skipped: {exc}"
        except IntegrityError:
            if _still_tracked(engine, account_id):
                raise
            results[username] = REMOVED  # removed while its step ran: its rows had no owner
        log.info(label, account=username, result=results[username])
    return results


def _still_tracked(engine: Engine, account_id: int) -> bool:
    """Whether a step that failed on a foreign key lost its account to `accounts remove`
    meanwhile (a removal, not a failure)."""
    with session_scope(engine) as session:
        return session.get(Account, account_id) is not None


def _ingest(settings: Settings, backfill_days: int | None) -> dict[str, Any]:
    if settings.x_bearer_token is None:
        log.info("ingestion skipped: X_BEARER_TOKEN is not set")
        return {"skipped": "X_BEARER_TOKEN is not set"}
    engine = _engine(settings)
    names = _usernames(engine)
    with XClient.from_settings(settings) as client:
        reports = Ingestor(engine, client, settings.store_post_text).ingest_all(
            names, backfill_days
        )
    for report in reports:
        log.info("ingested", account=report.username, inserted=report.inserted,
                 pages=report.pages, error=report.error)
    return {r.username: r.error or {"inserted": r.inserted, "pages": r.pages} for r in reports}


def ingest_incremental(settings: Settings) -> dict[str, Any]:
    """Every post since the newest stored one, for every account (`musktracker ingest`)."""
    return _ingest(settings, None)


def ingest_full(settings: Settings) -> dict[str, Any]:
    """Re-fetch WORKER_FULL_INGEST_DAYS of history for every account, so posts an hourly run
    missed are filled in (`musktracker ingest --backfill-days N`)."""
    return _ingest(settings, settings.worker_full_ingest_days)


def forecast_all(settings: Settings) -> dict[str, Any]:
    """Store WORKER_FORECAST_HOURS hourly forecasts from each account's data end with
    WORKER_FORECAST_MODEL (`musktracker forecast --model best`)."""
    check_model_settings(settings)
    options = ForecastOptions(model=settings.worker_forecast_model, samples=FORECAST_SAMPLES)

    def step(session: Session, account: Account) -> dict[str, Any]:
        run = hourly_forecast(session, account.id, settings.worker_forecast_hours, options,
                              settings.artifact_dir)
        return {"model": run.model, "from": run.hourly.start.isoformat(),
                "hours": run.hourly.horizon}

    return _per_account(settings, "forecasts stored", step)


def fill_all_actuals(settings: Settings) -> dict[str, Any]:
    """Set the observed count on stored forecasts whose hour is complete."""
    return _per_account(settings, "actuals filled", lambda s, a: fill_actuals(s, a.id))


def regimes_all(settings: Settings) -> dict[str, Any]:
    """Detect regime shifts on every account's counts and store them (`musktracker regimes`)."""

    def step(session: Session, account: Account) -> dict[str, int]:
        report = detect_and_store(session, account, ALL_KINDS)
        return {rule: len(shifts) for rule, shifts in report.rules.items()}

    return _per_account(settings, "regimes checked", step)


def _train_each_account(
    settings: Settings, train: Callable[[Engine, str, BacktestPlan, list[str]], dict[str, Any]]
) -> dict[str, Any]:
    """Plan WORKER_BACKTEST_WINDOWS rolling windows ending at each account's data end and
    hand them to `train`; an account already trained up to the same data end is skipped, so
    a redelivered task does not store a second run. The check and the training hold a
    database lock per account: two processes checking at once both found nothing stored and
    both stored a run for the same data end."""
    check_model_settings(settings)
    engine = _engine(settings)
    models = parse_models(settings.worker_train_models)
    results: dict[str, Any] = {}
    with session_scope(engine) as session:
        accounts = [(a.id, a.username) for a in list_accounts(session)]
    for account_id, username in accounts:
        try:
            with database_lock(engine, f"musktracker.training.account-{account_id}"):
                with session_scope(engine) as session:
                    as_of = floor_hour(default_as_of(session, account_id))
                    done = session.scalar(
                        select(BacktestResult.id)
                        .where(BacktestResult.account_id == account_id,
                               BacktestResult.as_of == as_of)
                        .limit(1)
                    )
                if done is not None:
                    results[username] = f"skipped: already trained as of {as_of.isoformat()}"
                else:
                    plan = BacktestPlan(as_of, settings.worker_backtest_windows,
                                        settings.worker_train_days, 24, timedelta(days=1))
                    results[username] = train(engine, username, plan, models)
        except ForecastError as exc:
            results[username] = f"skipped: {exc}"
        except AccountError:  # removed since the list was read
            results[username] = REMOVED
        except IntegrityError:  # removed while it trained: its results had no owner
            if _still_tracked(engine, account_id):
                raise
            results[username] = REMOVED
        log.info("trained", account=username, result=results[username])
    return results


def train_all(settings: Settings) -> dict[str, Any]:
    """Backtest WORKER_TRAIN_MODELS for every account and store the ranked results and final
    fits (`musktracker train`), the windows in a local pool of WORKER_TRAIN_PROCESSES."""

    def train(engine: Engine, username: str, plan: BacktestPlan, models: list[str]) -> dict[
        str, Any
    ]:
        report = train_account(engine, username, plan, models, settings.artifact_dir,
                               workers=settings.worker_train_processes)
        best, row = report.ranking()[0]
        return {"as_of": plan.as_of.isoformat(), "best": best, "crps": row["crps"],
                "models": len(report.ranking())}

    return _train_each_account(settings, train)


def train_all_on_workers(settings: Settings, app: Celery) -> dict[str, Any]:
    """The same backtests with the windows fanned out over the Celery workers as a group;
    a chord callback stores each account's run (worker/backtest_tasks.py)."""
    from musktracker.worker.backtest_tasks import launch_training

    def train(engine: Engine, username: str, plan: BacktestPlan, models: list[str]) -> dict[
        str, Any
    ]:
        return launch_training(app, settings, engine, username, plan, models)

    return _train_each_account(settings, train)


def dispatch_outbox(settings: Settings) -> dict[str, Any]:
    """One delivery pass over the outbox (`musktracker signals dispatch --once`)."""
    return {"attempts": build_dispatcher(settings, _engine(settings)).run_once()}
