"""`musktracker train`: rolling backtests of the volume models, stored and ranked by CRPS."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from musktracker.accounts import resolve_account
from musktracker.cli.helptext import run_module
from musktracker.cli.runtime import (
    ONE_ACCOUNT,
    console,
    database,
    fail,
    handle_errors,
    noun,
    print_wide,
    settings,
)
from musktracker.db.session import session_scope
from musktracker.evaluation.backtest import BacktestPlan
from musktracker.evaluation.training import TrainReport, parse_models, train_account
from musktracker.forecasting.generate import (
    MAX_STEP_HOURS,
    check_as_of,
    default_as_of,
    parse_as_of,
    parse_horizon,
)
from musktracker.forecasting.output import check_png, write_error
from musktracker.utc import floor_hour


def _print_table(report: TrainReport) -> None:
    plan = report.result.plan
    table = Table(
        title=f"@{report.account}: {plan.windows} {noun(plan.windows, 'window')} of "
        f"{plan.horizon} h, {plan.train_days:g} {noun(plan.train_days, 'day')} of training, "
        f"as of {plan.as_of:%Y-%m-%d %H:%M}Z "
        "(sorted by CRPS; * = best baseline)"
    )
    # Models scored on different windows (some need more history than the early windows
    # had) are ranked on the windows all were scored on: that CRPS and the counts are shown.
    compared = report.compared_on()
    extra = ("rank CRPS", "win") if compared else ()
    for column in ("model", *extra, "CRPS", "log score", "MAE", "RMSE", "MAPE %",
                   "95% cover", "total MAE", "total CRPS", "fit s"):
        if column == "model":
            table.add_column(column, no_wrap=True)
        else:
            table.add_column(column, justify="right", no_wrap=column in extra)
    best_baseline = report.best_baseline()
    ranked_by = report.ranking_crps()
    for name, row in report.ranking():
        same = (f"{ranked_by[name]:.3f}", f"{row['windows']:.0f}") if compared else ()
        table.add_row(
            f"{name}{' *' if name == best_baseline else ''}", *same,
            f"{row['crps']:.3f}", f"{row['log_score']:.3f}", f"{row['mae']:.2f}",
            f"{row['rmse']:.2f}", f"{row['mape']:.1f}", f"{100 * row['coverage_95']:.0f}%",
            f"{row['total_mae']:.1f}", f"{row['total_crps']:.1f}", f"{row['fit_seconds']:.2f}",
        )
    print_wide(table)
    if compared:
        console.print(
            f"sorted by rank CRPS: the CRPS on the {len(compared)} "
            f"{noun(len(compared), 'window')} every model was scored on (from "
            f"{compared[0]:%Y-%m-%d %H:%M}Z; some models need more history than the earlier "
            "windows had); win: windows scored; the other columns pool each model's windows"
        )
    if report.shifted_origins:
        marked = ", ".join(f"{o:%Y-%m-%d %H:%M}Z" for o in sorted(report.shifted_origins))
        console.print(f"windows after a detected regime shift: {marked}")
    for (model, origin), message in sorted(report.result.failures.items()):
        where = ("the final fit (the artifact for forecasts)" if origin == plan.as_of
                 else f"the window starting {origin:%Y-%m-%d %H:%M}Z")
        console.print(f"[yellow]{model} failed on {where}:[/] {escape(message)}")
    if report.result.failures:
        console.print(f"(every fit uses the --train-days {plan.train_days:g} "
                      f"{noun(plan.train_days, 'day')} before its "
                      "window; a model that needs more history fails)")


@handle_errors
def train(
    account: str | None = ONE_ACCOUNT,
    model: str = typer.Option("all", "--model", "-m", help="`all` or a comma list of models."),
    backtest_windows: int = typer.Option(12, "--backtest-windows", min=1, max=500,
                                         help="Number of rolling windows."),
    train_days: float = typer.Option(30.0, "--train-days", help="Days of history per fit."),
    horizon: str = typer.Option("24h", "--horizon", help="Forecast length per window (24h, 7d)."),
    step: str = typer.Option("1d", "--step", help="Distance between window origins (1d, 12h)."),
    as_of: str | None = typer.Option(
        None, "--as-of", help="ISO time the last window ends at (default: end of the data)."
    ),
    samples: int = typer.Option(1000, "--samples", min=10, help="Sample paths per forecast."),
    workers: int = typer.Option(2, "--workers", min=1, help="Parallel worker processes."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    report: Path | None = typer.Option(None, "--report", help="Write forecast-vs-actual PNG."),
) -> None:
    """Fit every model on rolling windows that end at --as-of, score each window's forecast
    (RMSE, MAE, MAPE, CRPS, log score, 95% coverage, window totals), store the results and
    the final fits, and print them ranked by CRPS.

    Example: musktracker train --model all --backtest-windows 12 --as-of 2026-02-01T00:00Z
    """
    models = parse_models(model)
    hours = parse_horizon(horizon)
    step_hours = parse_horizon(step, "--step", MAX_STEP_HOURS)
    if not train_days > 0:
        raise fail(f"--train-days {train_days}: must be positive")
    if report is not None:
        check_png(report, "--report")
    asked = parse_as_of(as_of) if as_of is not None else None
    engine = database()
    with session_scope(engine) as session:
        account_row = resolve_account(session, account)
        account_id, username = account_row.id, account_row.username
        if asked is not None:
            check_as_of(session, account_id, asked)
        moment = floor_hour(asked) if asked is not None else default_as_of(session, account_id)
    plan = BacktestPlan(moment, backtest_windows, train_days, hours,
                        timedelta(hours=step_hours), samples)
    with Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=console, transient=as_json, disable=as_json,
    ) as progress:
        task = progress.add_task(
            f"backtesting {len(models)} {noun(len(models), 'model')}", total=None
        )
        result = train_account(
            engine, username, plan, models, settings().artifact_dir, workers=workers,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    if as_json:
        typer.echo(json.dumps(result.as_json()))
    else:
        _print_table(result)
        if result.already_stored:
            console.print("this run was stored before (same windows, models, posts and "
                          "scores): nothing was added")
    if report is not None:
        from musktracker.forecasting.plots import backtest_report

        best = result.ranking()[0][0]
        try:
            backtest_report(result.result, result.shifted_origins, report, best,
                            f"@{result.account}: backtest windows ({best} shaded)")
        except OSError as exc:
            raise write_error(report, "--report", exc) from None
        if not as_json:
            console.print(f"report written to {escape(str(report))}")


app = typer.Typer()
app.command(name="train")(train)

if __name__ == "__main__":
    run_module(app)
