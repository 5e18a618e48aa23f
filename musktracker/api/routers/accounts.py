"""Tracked accounts (listed, added, removed) and their stored post counts."""

from __future__ import annotations

from typing import Literal

import pandas as pd
from fastapi import Depends, Query, Request, Response
from pydantic import AwareDatetime
from sqlalchemy.orm import Session

from musktracker.account_removal import delete_artifacts, remove_account
from musktracker.accounts import (
    AccountError,
    add_account,
    get_account,
    list_accounts,
    normalize_username,
)
from musktracker.api.auth import require
from musktracker.api.cache import cached_json
from musktracker.api.errors import ApiError, field_error, from_domain_error
from musktracker.api.routing import keyed_router
from musktracker.api.schemas import (
    AccountCreate,
    AccountOut,
    AccountRemovedOut,
    CountBucket,
    CountsOut,
    ErrorBody,
)
from musktracker.api.services import services
from musktracker.api.windows import query_window
from musktracker.db.models import Account, Granularity
from musktracker.db.session import session_scope
from musktracker.features.buckets import bucket_counts
from musktracker.features.count_rule import CountRule
from musktracker.logging import get_logger
from musktracker.security.apikeys import Scope

log = get_logger(__name__)

router = keyed_router(prefix="/v1/accounts", tags=["accounts"])

GRANULARITY = {"hour": Granularity.HOURLY, "day": Granularity.DAILY}


def account_out(account: Account) -> AccountOut:
    return AccountOut(
        id=account.id,
        username=account.username,
        x_user_id=account.x_user_id,
        created_at=account.created_at,
    )


def tracked_account(session: Session, username: str, field: str = "path.username") -> Account:
    """The account named in `field`: 422 for a malformed handle, 404 for an unknown one."""
    try:
        normalize_username(username)
    except AccountError as exc:
        raise field_error(field, str(exc), username) from None
    try:
        return get_account(session, username)
    except AccountError as exc:
        raise ApiError(404, str(exc)) from None


@router.get(
    "",
    response_model=list[AccountOut],
    dependencies=[Depends(require(Scope.READ))],
    summary="List tracked accounts",
)
async def accounts_list(request: Request) -> Response:
    svc = services(request)

    def produce() -> list[AccountOut]:
        with session_scope(svc.engine) as session:
            return [account_out(a) for a in list_accounts(session)]

    return await cached_json(request, svc.cache, produce)


@router.post(
    "",
    response_model=AccountOut,
    status_code=201,
    dependencies=[Depends(require(Scope.WRITE))],
    responses={409: {"model": ErrorBody}},
    summary="Track a new account",
)
def accounts_create(request: Request, body: AccountCreate) -> AccountOut:
    try:
        normalize_username(body.username)
    except AccountError as exc:
        raise field_error("body.username", str(exc), body.username) from None
    try:
        with session_scope(services(request).engine) as session:
            return account_out(add_account(session, body.username, body.x_user_id))
    except AccountError as exc:
        raise ApiError(409, str(exc)) from None


@router.delete(
    "/{username}",
    response_model=AccountRemovedOut,
    dependencies=[Depends(require(Scope.ADMIN))],
    responses={404: {"model": ErrorBody}},
    summary="Stop tracking an account and delete everything stored about it",
)
def accounts_delete(request: Request, username: str) -> AccountRemovedOut:
    """Admin only: unlike adding (write), this cannot be undone. The rows go in one
    transaction (`musktracker accounts remove --yes`); the artifact files after it."""
    svc = services(request)
    artifact_dir = svc.settings.artifact_dir
    try:
        with session_scope(svc.engine) as session:
            tracked_account(session, username)  # 422 for a malformed handle, 404 for unknown
            removed = remove_account(session, username, artifact_dir)
    except AccountError as exc:  # a concurrent DELETE removed it after the lookup: a 404
        raise ApiError(404, str(exc)) from None
    cleanup = delete_artifacts(removed, artifact_dir)
    for path, reason in cleanup.failed:
        log.warning("account artifact not deleted", account=removed.username, path=str(path),
                    reason=reason)
    if removed.elsewhere:  # relative paths written by a process in another directory
        log.warning("account artifacts not found from the server's directory",
                    account=removed.username, files=len(removed.elsewhere),
                    example=str(removed.elsewhere[0]))
    log.info("account removed", account=removed.username, rows=removed.rows,
             artifacts=len(cleanup.deleted))
    return AccountRemovedOut(
        account=removed.username,
        id=removed.account_id,
        deleted_rows=removed.rows,
        artifacts_deleted=len(cleanup.deleted),
        artifacts_kept=len(removed.shared),
        artifacts_failed=len(cleanup.failed),
    )


@router.get(
    "/{username}/counts",
    response_model=CountsOut,
    dependencies=[Depends(require(Scope.READ))],
    responses={404: {"model": ErrorBody}},
    summary="Post counts per hour or day from the stored time buckets",
)
async def account_counts(
    request: Request,
    username: str,
    start: AwareDatetime = Query(description="Window start, ISO 8601 with a zone."),
    end: AwareDatetime = Query(description="Window end (exclusive), after start."),
    granularity: Literal["hour", "day"] = Query("hour"),
    kinds: str = Query("all", description="'all' or a comma list of post kinds to count."),
) -> Response:
    svc = services(request)
    start, end = query_window(start, end, svc.settings.api_max_count_days)
    try:
        rule = CountRule.parse(kinds)
    except ValueError as exc:
        raise from_domain_error(exc, "query", {"kinds": kinds}) from None

    def produce() -> CountsOut:
        with session_scope(svc.engine) as session:
            account = tracked_account(session, username)
            series = bucket_counts(
                session, account.id, GRANULARITY[granularity], rule, start, end
            )
        starts = pd.DatetimeIndex(series.index).to_pydatetime()
        buckets = [
            CountBucket(start=ts, count=int(n))
            for ts, n in zip(starts, series.to_numpy(), strict=True)
        ]
        return CountsOut(
            account=account.username,
            granularity=granularity,
            kinds=rule.name,
            start=start,
            end=end,
            total=int(series.sum()),
            buckets=buckets,
        )

    return await cached_json(request, svc.cache, produce)
