"""Volume forecasts of one account: hourly forecasts, a window's total with bracket
probabilities, the fan chart and the stored regime shifts (JSON and chart). Every route reuses
`forecasting.service` / `evaluation.regime_store`, so answers match the CLI's `--json`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Depends, Query, Request, Response
from pydantic import AwareDatetime

from musktracker.api.auth import require
from musktracker.api.cache import cached_bytes, cached_json
from musktracker.api.errors import ApiError, field_error, from_domain_error
from musktracker.api.routers.accounts import tracked_account
from musktracker.api.routing import keyed_router
from musktracker.api.schemas import ErrorBody, HourlyForecastOut, WindowForecastOut
from musktracker.api.services import Services, services
from musktracker.api.windows import query_window
from musktracker.db.session import session_scope
from musktracker.evaluation.regime_store import daily_posts, regime_title, stored_report
from musktracker.features.count_rule import CountRule
from musktracker.forecasting.brackets import BracketSpec
from musktracker.forecasting.errors import ForecastError, UnfittableModelError
from musktracker.forecasting.generate import default_as_of, parse_horizon
from musktracker.forecasting.service import (
    ForecastOptions,
    HourlyRun,
    fan_chart_png,
    horizon_json,
    hourly_forecast,
    window_json,
    window_total,
)
from musktracker.security.apikeys import Scope
from musktracker.utc import HOUR

router = keyed_router(prefix="/v1/accounts", tags=["volume"])

READ = [Depends(require(Scope.READ))]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}}
MODEL = Query("best", max_length=64, description="A model name, `best` or `ensemble`.")
HORIZON = Query("24h", max_length=16, description="Hours to forecast: 24h, 7d, 36, ...")
KINDS = Query("all", max_length=200, description="Counting rule: all or a kind list.")


def _forecast_error(exc: ForecastError, query: Mapping[str, Any]) -> ApiError:
    """Option errors (`--model 'x' is not a model`) name the query field; a model the
    account's history is too short for names `query.model` (another model may fit; the CLI's
    `--train-days` is no query field here); anything else (no posts yet) means there is
    nothing to forecast from."""
    if isinstance(exc, UnfittableModelError):
        return field_error("query.model", exc.reason, query.get("model"))
    if "--" in str(exc):
        return from_domain_error(exc, "query", query)
    return ApiError(404, str(exc))


def _hours(svc: Services, horizon: str) -> int:
    try:
        hours = parse_horizon(horizon)
    except ForecastError as exc:
        raise _forecast_error(exc, {"horizon": horizon}) from None
    limit = svc.settings.api_max_forecast_hours
    if hours > limit:
        raise field_error("query.horizon", f"more than {limit} hours (API_MAX_FORECAST_HOURS)",
                          horizon)
    return hours


def _hourly(svc: Services, username: str, hours: int, model: str) -> tuple[str, HourlyRun]:
    options = ForecastOptions(model=model, samples=svc.settings.api_forecast_samples)
    try:
        with session_scope(svc.engine) as session:
            account = tracked_account(session, username)
            run = hourly_forecast(session, account.id, hours, options, svc.settings.artifact_dir)
            return account.username, run
    except ForecastError as exc:
        raise _forecast_error(exc, {"model": model}) from None


@router.get(
    "/{username}/forecast",
    dependencies=READ,
    responses={**NOT_FOUND, 200: {"model": HourlyForecastOut}},
    summary="Hourly forecast: mean, 95% interval and 23 quantiles per hour",
)
async def account_forecast(
    request: Request, username: str, horizon: str = HORIZON, model: str = MODEL
) -> Response:
    svc = services(request)
    hours = _hours(svc, horizon)

    def produce() -> dict[str, Any]:
        name, run = _hourly(svc, username, hours, model)
        return horizon_json(name, run.model, run.hourly)

    return await cached_json(request, svc.cache, produce)


@router.get(
    "/{username}/forecast.png",
    dependencies=READ,
    responses={**NOT_FOUND, 200: {"content": {"image/png": {}}}},
    response_class=Response,
    summary="Fan chart of the hourly forecast (PNG)",
)
async def account_forecast_png(
    request: Request, username: str, horizon: str = HORIZON, model: str = MODEL
) -> Response:
    svc = services(request)
    hours = _hours(svc, horizon)

    def produce() -> bytes:
        name, run = _hourly(svc, username, hours, model)
        return fan_chart_png(name, run)

    return await cached_bytes(request, svc.cache, produce, "image/png")


@router.get(
    "/{username}/forecast/window",
    dependencies=READ,
    responses={**NOT_FOUND, 200: {"model": WindowForecastOut}},
    summary="Distribution of the posts in [start, end) and its bracket probabilities",
)
async def account_forecast_window(
    request: Request,
    username: str,
    start: AwareDatetime = Query(description="Window start, ISO 8601 with a zone."),
    end: AwareDatetime = Query(description="Window end (exclusive), after start."),
    brackets: str = Query(
        "20", max_length=2000, description="Bracket width (20) or lower edges (0,140,160)."
    ),
    model: str = MODEL,
) -> Response:
    svc = services(request)
    start, end = query_window(start, end, svc.settings.api_max_count_days)
    try:
        spec = BracketSpec.parse(brackets)
    except ForecastError as exc:
        raise from_domain_error(exc, "query", {"brackets": brackets}) from None
    limit = svc.settings.api_max_forecast_hours

    def produce() -> dict[str, Any]:
        try:
            with session_scope(svc.engine) as session:
                account = tracked_account(session, username)
                name = account.username
                moment = default_as_of(session, account.id)
                if end - max(moment, start) > limit * HOUR:
                    raise field_error(
                        "query.end",
                        f"more than {limit} hours past the data end {moment.isoformat()} "
                        "(API_MAX_FORECAST_HOURS)",
                        end,
                    )
                options = ForecastOptions(
                    model=model, as_of=moment, samples=svc.settings.api_forecast_samples
                )
                run = window_total(session, account.id, (start, end), 0, options,
                                   svc.settings.artifact_dir, start_option="--start")
                # in the transaction: a width giving too many brackets leaves nothing stored
                table = run.window.brackets(spec)
        except ForecastError as exc:
            raise _forecast_error(
                exc, {"model": model, "start": start.isoformat(), "brackets": brackets}
            ) from None
        return window_json(name, run, table)

    return await cached_json(request, svc.cache, produce)


@router.get(
    "/{username}/regimes",
    dependencies=READ,
    responses=NOT_FOUND,
    summary="Stored regime shifts (lasting changes in posting level) per detection rule",
)
async def account_regimes(request: Request, username: str, kinds: str = KINDS) -> Response:
    svc = services(request)
    rule = _count_rule(kinds)

    def produce() -> dict[str, Any]:
        with session_scope(svc.engine) as session:
            return stored_report(session, tracked_account(session, username), rule).as_json()

    return await cached_json(request, svc.cache, produce)


@router.get(
    "/{username}/regimes.png",
    dependencies=READ,
    responses={**NOT_FOUND, 200: {"content": {"image/png": {}}}},
    response_class=Response,
    summary="Posts per day with the stored regime shifts drawn on them (PNG)",
)
async def account_regimes_png(request: Request, username: str, kinds: str = KINDS) -> Response:
    svc = services(request)
    rule = _count_rule(kinds)

    def produce() -> bytes:
        from musktracker.forecasting.plots import png_bytes, regime_figure  # matplotlib: lazily

        with session_scope(svc.engine) as session:
            account = tracked_account(session, username)
            report = stored_report(session, account, rule)
            daily = daily_posts(session, account, rule)
        return png_bytes(regime_figure(daily, report.rules, regime_title(report)))

    return await cached_bytes(request, svc.cache, produce, "image/png")


def _count_rule(kinds: str) -> CountRule:
    try:
        return CountRule.parse(kinds)
    except ValueError as exc:
        raise from_domain_error(exc, "query", {"kinds": kinds}) from None
