"""Where everything stands: per account its posts, buckets, features, last ingest, last
backtest, last forecast and regime shifts; then the sentiment model, labelled samples,
retraining, signals and the alert outbox. One place to see whether each part is running."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from musktracker.accounts import list_accounts
from musktracker.db.models import (
    SENTIMENT_CHAMPION_STATUS,
    Feature,
    Forecast,
    Granularity,
    IngestState,
    LabelledSample,
    OutboxStatus,
    PushOutbox,
    RawTweet,
    RegimeShift,
    RetrainDecision,
    SentimentModelVersion,
    Signal,
    TimeBucket,
)
from musktracker.evaluation.ranking import run_ranking
from musktracker.evaluation.results import latest_backtest
from musktracker.utc import ensure_utc, utcnow


@dataclass(frozen=True)
class BacktestSummary:
    """The backtest run that ranks the models for `forecast --model best` (the newest with
    two models or more): when it ran, the moment it replayed and its best model by CRPS."""

    ran_at: datetime
    as_of: datetime
    best_model: str
    best_crps: float
    models: int


@dataclass(frozen=True)
class ShiftSummary:
    """The newest stored regime shift and how many are stored."""

    stored: int
    change_at: datetime
    direction: str


@dataclass(frozen=True)
class AccountActivity:
    """What the models did for an account."""

    ranking: BacktestSummary | None
    last_forecast: datetime | None
    """When a forecast was last stored (`forecast`, the API or the worker)."""
    regime_shifts: ShiftSummary | None


@dataclass(frozen=True)
class AccountStatus:
    username: str
    posts: int
    deleted_posts: int
    first_post: datetime | None
    last_post: datetime | None
    hourly_buckets: int
    daily_buckets: int
    hourly_bucket_total: int
    features: int
    last_ingest: datetime | None
    activity: AccountActivity | None = None
    """None when the schema is behind: its tables may not exist yet."""


def account_statuses(session: Session, activity: bool = True) -> list[AccountStatus]:
    """One status per tracked account; with `activity`, also its last backtest, forecast
    and regime shifts (tables of later migrations: left out for a schema behind)."""
    out = []
    for account in list_accounts(session):
        live = (RawTweet.account_id == account.id) & RawTweet.is_deleted.is_(False)
        posts, first, last = session.execute(
            select(
                func.count(), func.min(RawTweet.created_at), func.max(RawTweet.created_at)
            ).where(live)
        ).one()
        deleted = session.scalar(
            select(func.count()).where(
                RawTweet.account_id == account.id, RawTweet.is_deleted.is_(True)
            )
        )
        buckets = dict(
            session.execute(
                select(TimeBucket.granularity, func.count())
                .where(TimeBucket.account_id == account.id)
                .group_by(TimeBucket.granularity)
            ).all()
        )
        hourly_total = session.scalar(
            select(func.coalesce(func.sum(TimeBucket.tweet_count), 0)).where(
                TimeBucket.account_id == account.id,
                TimeBucket.granularity == Granularity.HOURLY.value,
            )
        )
        features = session.scalar(select(func.count()).where(Feature.account_id == account.id))
        last_ingest = max(
            (
                t
                for t in (
                    session.scalar(
                        select(func.max(IngestState.updated_at)).where(
                            IngestState.account_id == account.id
                        )
                    ),
                    session.scalar(
                        select(func.max(RawTweet.ingest_time)).where(
                            RawTweet.account_id == account.id
                        )
                    ),
                )
                if t is not None
            ),
            default=None,
        )
        out.append(
            AccountStatus(
                username=account.username,
                posts=posts,
                deleted_posts=deleted or 0,
                first_post=first,
                last_post=last,
                hourly_buckets=buckets.get(Granularity.HOURLY.value, 0),
                daily_buckets=buckets.get(Granularity.DAILY.value, 0),
                hourly_bucket_total=int(hourly_total or 0),
                features=features or 0,
                last_ingest=last_ingest,
                activity=_activity(session, account.id) if activity else None,
            )
        )
    return out


def _activity(session: Session, account_id: int) -> AccountActivity:
    last_forecast = session.scalar(
        select(func.max(Forecast.created_at)).where(Forecast.account_id == account_id)
    )
    return AccountActivity(
        _ranking(session, account_id), last_forecast, _shifts(session, account_id)
    )


def _ranking(session: Session, account_id: int) -> BacktestSummary | None:
    """The backtest run `forecast --model best` ranks the models by today, and its best."""
    rows = latest_backtest(session, account_id, utcnow())
    ranked = run_ranking(session, rows)  # as `best` ranks: on the windows all were scored on
    if not ranked:
        return None
    best_model, best_crps = ranked[0]
    return BacktestSummary(
        ran_at=max(row.trained_at for row in rows),
        as_of=max(row.training_end_date for row in rows),
        best_model=best_model,
        best_crps=float(best_crps),  # the CRPS it was ranked by
        models=len(rows),
    )


def _shifts(session: Session, account_id: int) -> ShiftSummary | None:
    stored = session.scalar(
        select(func.count()).where(RegimeShift.account_id == account_id)
    )
    newest = session.execute(
        select(RegimeShift.change_at, RegimeShift.direction)
        .where(RegimeShift.account_id == account_id)
        .order_by(RegimeShift.change_at.desc(), RegimeShift.id.desc())
        .limit(1)
    ).first()
    if not stored or newest is None:
        return None
    return ShiftSummary(int(stored), newest.change_at, newest.direction)


@dataclass(frozen=True)
class SystemStatus:
    """The parts shared by all accounts."""

    sentiment_champion: SentimentModelVersion | None
    labelled_samples: int
    samples_not_trained_on: int
    last_retrain: RetrainDecision | None
    signals: int
    last_signal: datetime | None
    outbox: dict[str, int] = field(default_factory=dict)
    """Notifications by status (pending, sending, done, failed, dlq), zeros included."""


def system_status(session: Session, sentiment_model_name: str) -> SystemStatus:
    champion = session.scalars(
        select(SentimentModelVersion)
        .where(
            SentimentModelVersion.model_name == sentiment_model_name,
            SentimentModelVersion.status == SENTIMENT_CHAMPION_STATUS,
        )
        .order_by(SentimentModelVersion.version.desc())
        .limit(1)
    ).first()
    samples, unused = session.execute(
        select(
            func.count(),
            func.count().filter(LabelledSample.used_in_training.is_(False)),
        ).select_from(LabelledSample)
    ).one()
    retrain = session.scalars(
        select(RetrainDecision).order_by(RetrainDecision.id.desc()).limit(1)
    ).first()
    signals, last_signal = session.execute(select(func.count(), func.max(Signal.ts))).one()
    outbox = dict.fromkeys((s.value for s in OutboxStatus), 0)
    for status, count in session.execute(
        select(PushOutbox.status, func.count()).group_by(PushOutbox.status)
    ):
        outbox[status] = count
    return SystemStatus(
        champion, int(samples), int(unused), retrain, int(signals), last_signal, outbox
    )


def status_document(
    accounts: list[AccountStatus], shared: SystemStatus | None
) -> dict[str, Any]:
    """What `status --json` and `GET /v1/status` answer: times in ISO 8601 UTC ("Z")."""
    return {
        "accounts": [_iso(asdict(account)) for account in accounts],
        "shared": _shared_json(shared) if shared else None,
    }


def _iso(value: Any) -> Any:
    """JSON for a status value: times as ISO 8601 in UTC, nested records as objects."""
    if isinstance(value, datetime):
        return ensure_utc(value).isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: _iso(v) for k, v in value.items()}
    return value


def _shared_json(shared: SystemStatus) -> dict[str, Any]:
    champion, retrain = shared.sentiment_champion, shared.last_retrain
    fields: dict[str, Any] = {
        "sentiment_champion": {
            "version": champion.version,
            "kind": champion.kind,
            "dev_macro_recall": champion.dev_macro_recall,
        } if champion else None,
        "labelled_samples": shared.labelled_samples,
        "samples_not_trained_on": shared.samples_not_trained_on,
        "last_retrain": {
            "at": retrain.created_at,
            "fired": retrain.fired,
            "promoted": retrain.promoted,
            "challenger_version": retrain.challenger_version,
        } if retrain else None,
        "signals": shared.signals,
        "last_signal": shared.last_signal,
        "outbox": shared.outbox,
    }
    return {key: _iso(value) for key, value in fields.items()}
