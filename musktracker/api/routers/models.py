"""Trained volume models: metadata and backtest metrics (CRPS, coverage, window-total
errors, written by `musktracker train`) from `model_metadata`."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Depends, Path, Query, Request, Response
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from musktracker.api.auth import require
from musktracker.api.cache import cached_json
from musktracker.api.errors import ApiError
from musktracker.api.routers.accounts import tracked_account
from musktracker.api.routing import keyed_router
from musktracker.api.schemas import ErrorBody, ModelMetrics, ModelOut
from musktracker.api.services import services
from musktracker.db.models import Account, ModelMetadata
from musktracker.db.session import session_scope
from musktracker.db.types import MAX_ROW_ID
from musktracker.security.apikeys import Scope

router = keyed_router(prefix="/v1/models", tags=["models"])



def _hyperparameters(raw: str | None) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def model_out(row: ModelMetadata, username: str) -> ModelOut:
    return ModelOut(
        id=row.id,
        account=username,
        model_name=row.model_name,
        model_version=row.model_version,
        trained_at=row.trained_at,
        training_start=row.training_start_date,
        training_end=row.training_end_date,
        hyperparameters=_hyperparameters(row.hyperparameters),
        metrics=ModelMetrics(
            rmse=row.rmse, mae=row.mae, mape=row.mape, log_likelihood=row.log_likelihood,
            crps=row.crps, log_score=row.log_score, coverage_95=row.coverage_95,
            total_mae=row.total_mae, total_crps=row.total_crps, fit_seconds=row.fit_seconds,
            backtest_windows=row.backtest_windows,
        ),
    )


def _with_username() -> Select[ModelMetadata, str]:
    return select(ModelMetadata, Account.username).join(
        Account, Account.id == ModelMetadata.account_id
    )


def _models(session: Session, account: str | None) -> list[ModelOut]:
    query = _with_username().order_by(ModelMetadata.trained_at.desc(), ModelMetadata.id.desc())
    if account is not None:
        owner = tracked_account(session, account, "query.account")
        query = query.where(ModelMetadata.account_id == owner.id)
    return [model_out(row, username) for row, username in session.execute(query).all()]


@router.get(
    "",
    response_model=list[ModelOut],
    dependencies=[Depends(require(Scope.READ))],
    responses={404: {"model": ErrorBody}},
    summary="List trained models, newest first",
)
async def models_list(
    request: Request,
    account: str | None = Query(None, description="Only this account's models."),
) -> Response:
    svc = services(request)

    def produce() -> list[ModelOut]:
        with session_scope(svc.engine) as session:
            return _models(session, account)

    return await cached_json(request, svc.cache, produce)


@router.get(
    "/{model_id}",
    response_model=ModelOut,
    dependencies=[Depends(require(Scope.READ))],
    responses={404: {"model": ErrorBody}},
    summary="One trained model's metadata and metrics",
)
def models_get(request: Request, model_id: int = Path(ge=1, le=MAX_ROW_ID)) -> ModelOut:
    with session_scope(services(request).engine) as session:
        found = session.execute(_with_username().where(ModelMetadata.id == model_id)).first()
        if found is None:
            raise ApiError(404, f"no model with id {model_id}")
        return model_out(found[0], found[1])
