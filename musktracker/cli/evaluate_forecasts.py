"""`musktracker evaluate-forecasts`: fill in what happened and score the stored forecasts."""

from __future__ import annotations

import json
from dataclasses import asdict

import typer
from rich.table import Table

from musktracker.accounts import resolve_account
from musktracker.cli.helptext import run_module
from musktracker.cli.runtime import ONE_ACCOUNT, console, database, handle_errors, noun, print_wide
from musktracker.db.session import session_scope
from musktracker.forecasting.accuracy import accuracy_by_model, fill_actuals


@handle_errors
def evaluate_forecasts(
    account: str | None = ONE_ACCOUNT,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Set forecasts.actual_count for every complete hour, then report per model the MAE,
    RMSE, bias and 95% interval coverage of the stored forecasts against what happened.

    Example: musktracker evaluate-forecasts --account elonmusk
    """
    with session_scope(database()) as session:
        account_row = resolve_account(session, account)
        filled = fill_actuals(session, account_row.id)
        report = accuracy_by_model(session, account_row.id)
        name = account_row.username
    if as_json:
        models = []
        for r in report:
            row = asdict(r)
            row["first_target"] = r.first_target.isoformat()
            row["last_target"] = r.last_target.isoformat()
            models.append(row)
        typer.echo(json.dumps({"account": name, "filled": filled, "models": models}))
        return
    console.print(f"@{name}: filled {filled} actual {noun(filled, 'count')}")
    if not report:
        console.print("no stored forecast has a known outcome yet")
        return
    table = Table(title="accuracy of stored hourly forecasts")
    for column in ("model", "forecasts", "targets", "MAE", "RMSE", "bias", "95% cover"):
        if column in ("model", "targets"):  # never cut or wrapped: rows must stay apart
            table.add_column(column, justify="left" if column == "model" else "right",
                             no_wrap=True)
        else:
            table.add_column(column, justify="right")
    for r in report:
        table.add_row(r.model, str(r.forecasts),
                      f"{r.first_target:%Y-%m-%d %H}h to {r.last_target:%Y-%m-%d %H}h",
                      f"{r.mae:.2f}", f"{r.rmse:.2f}", f"{r.bias:+.2f}",
                      f"{100 * r.coverage_95:.0f}%")
    print_wide(table)


app = typer.Typer()
app.command(name="evaluate-forecasts")(evaluate_forecasts)

if __name__ == "__main__":
    run_module(app)
