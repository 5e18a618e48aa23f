"""`musktracker regimes`: lasting changes in an account's posting level."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from musktracker.accounts import resolve_account
from musktracker.cli.helptext import run_module
from musktracker.cli.runtime import ONE_ACCOUNT, console, database, fail, handle_errors, noun
from musktracker.db.session import session_scope
from musktracker.evaluation.regime_store import detect_and_store, regime_title
from musktracker.evaluation.regimes import RegimeShift
from musktracker.features.count_rule import CountRule
from musktracker.forecasting.generate import parse_as_of
from musktracker.forecasting.output import check_png, write_error
from musktracker.utc import floor_hour


def _table(rule: str, shifts: list[RegimeShift]) -> Table:
    table = Table(title=f"{rule}: {len(shifts)} {noun(len(shifts), 'alert')}")
    for column in ("change from", "detected", "direction", "posts/day before", "after"):
        table.add_column(column, justify="right")
    for s in shifts:
        table.add_row(f"{s.change_at:%Y-%m-%d}", f"{s.detected_at:%Y-%m-%d}", s.direction,
                      "-" if s.level_before is None else f"{s.level_before:.1f}",
                      f"{s.level_after:.1f}")
    return table


@handle_errors
def regimes(
    account: str | None = ONE_ACCOUNT,
    kinds: str = typer.Option("all", "--kinds", help="Counting rule: all or original,quote,..."),
    as_of: str | None = typer.Option(
        None, "--as-of",
        help="Replay: only use posts before this time (printed only; the stored alerts stay).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    plot: Path | None = typer.Option(
        None, "--plot",
        help="Write a PNG: posts per day with every alert drawn on them (CUSUM shifts as "
        "bands from the change to its detection, with the level before and after).",
    ),
) -> None:
    """Detect regime shifts in the posting level with two rules: the original rolling
    variance beyond 2 sigma, and a Negative Binomial CUSUM on daily counts relative to the
    seasonal expectation with a threshold set for one false alarm per year. One shift gives
    one alert. The alerts are stored in `regime_shifts` (with --as-of, a replay of a past
    moment, they are only printed: the stored alerts describe the present).

    Example: musktracker regimes --account elonmusk --plot reports/regimes.png
    """
    try:
        rule = CountRule.parse(kinds)
    except ValueError as exc:
        raise fail(str(exc)) from None
    end = floor_hour(parse_as_of(as_of)) if as_of is not None else None
    if plot is not None:
        check_png(plot, "--plot")
    with session_scope(database()) as session:
        report = detect_and_store(session, resolve_account(session, account), rule, end)
    if as_json:
        typer.echo(json.dumps(report.as_json()))
    else:
        ends = f"{report.data_end:%Y-%m-%d %H:%M}Z" if report.data_end else "-"
        console.print(f"@{report.account}: regime shifts in posts per day "
                      f"({escape(report.count_rule)}), data up to {ends}")
        for r, shifts in report.rules.items():
            if r in report.too_short and not shifts:
                console.print(f"[yellow]{r}: no alert possible yet: it "
                              f"{escape(report.too_short[r])}[/]")
                continue
            console.print(_table(r, shifts))
    if plot is not None and report.daily is not None:
        from musktracker.forecasting.plots import regime_chart  # matplotlib: only when asked

        try:
            regime_chart(report.daily, report.rules, plot, regime_title(report))
        except OSError as exc:
            raise write_error(plot, "--plot", exc) from None
        if not as_json:
            console.print(f"regime chart: {escape(str(plot))}")


app = typer.Typer()
app.command(name="regimes")(regimes)

if __name__ == "__main__":
    run_module(app)
