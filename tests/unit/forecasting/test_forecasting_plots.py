"""What the PNG plots draw (checked on the matplotlib figures before they are saved)."""

from __future__ import annotations

from datetime import timedelta

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.dates import num2date
from matplotlib.patches import Rectangle

from musktracker.evaluation.regimes import RegimeShift
from musktracker.forecasting.brackets import Bracket
from musktracker.forecasting.plots import bracket_figure, fan_figure, regime_figure
from musktracker.models.base import PredictiveDistribution

START = pd.Timestamp("2026-02-20T17:00Z")


def test_bracket_bars_draw_every_bracket_even_at_zero() -> None:
    brackets = [Bracket(0, 299, 0.0), Bracket(300, 349, 0.0), Bracket(350, 399, 0.0),
                Bracket(400, 449, 0.2), Bracket(450, 499, 0.5), Bracket(500, None, 0.3)]
    fig = bracket_figure(brackets, "t")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [b.label() for b in brackets]
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert [bar.get_height() for bar in bars] == [b.probability for b in brackets]
    plt.close(fig)


def test_bracket_bars_carry_their_probability() -> None:
    brackets = [Bracket(0, 299, 0.184), Bracket(300, 349, 0.2295), Bracket(350, None, 0.5865)]
    fig = bracket_figure(brackets, "t")
    shown = [t.get_text() for t in fig.axes[0].texts]
    assert shown == ["18.40%", "22.95%", "58.65%"]  # the four decimals of the JSON
    plt.close(fig)


def test_many_brackets_make_an_ordinary_figure_with_thinned_names() -> None:
    # 200 brackets used to make a 90-inch-wide figure with 200 overlapping names
    brackets = [Bracket(30 * k, 30 * k + 29, 0.005) for k in range(199)]
    brackets.append(Bracket(5970, None, 0.005))
    fig = bracket_figure(brackets, "t")
    ax = fig.axes[0]
    names = [t.get_text() for t in ax.get_xticklabels()]
    assert names[0] == "0-29" and len(names) <= 60
    assert len([p for p in ax.patches if isinstance(p, Rectangle)]) == 200
    assert fig.get_figwidth() <= 30 and not ax.texts
    plt.close(fig)


def test_fan_chart_lines_run_to_the_end_of_their_last_hour() -> None:
    history = pd.Series(
        np.arange(72), index=pd.date_range(START - pd.Timedelta(hours=72), periods=72, freq="h")
    )
    samples = np.random.default_rng(0).poisson(3.0, size=(200, 24))
    forecast = PredictiveDistribution(START.to_pydatetime(), samples)
    fig = fan_figure(history, forecast, "t")
    ax = fig.axes[0]
    ends = {
        str(line.get_label()): pd.Timestamp(np.max(np.asarray(line.get_xdata())))
        for line in ax.lines
        if not str(line.get_label()).startswith("_")
    }
    # the observed line reaches "now", the mean line the end of the last forecast hour
    assert ends["observed"] == START
    assert ends["forecast mean"] == START + pd.Timedelta(hours=24)
    plt.close(fig)


def test_regime_chart_draws_every_alert_of_both_rules() -> None:
    days = pd.date_range("2023-01-01", periods=60, freq="D", tz="UTC")
    daily = pd.Series([20] * 30 + [60] * 30, index=days)
    day = days[30].to_pydatetime()
    shifts = {
        "cusum": [RegimeShift("cusum", day, day + timedelta(days=4), "up", 20.0, 58.0)],
        "rolling_variance": [
            RegimeShift("rolling_variance", day, day + timedelta(days=1), "up", 20.0, 60.0),
            RegimeShift("rolling_variance", day, day + timedelta(days=9), "down", 60.0, 40.0),
        ],
    }
    fig = regime_figure(daily, shifts, "t")
    ax = fig.axes[0]
    (band,) = [p for p in ax.patches if str(p.get_label()).startswith("CUSUM shift up")]
    assert isinstance(band, Rectangle)
    assert num2date(band.get_x()) == day  # type: ignore[no-untyped-call]
    assert num2date(band.get_x() + band.get_width()) == day + timedelta(days=4)  # type: ignore[no-untyped-call]
    levels = sorted(float(segment[0][1]) for c in ax.collections
                    if isinstance(c, LineCollection) for segment in c.get_segments())
    assert levels == [20.0, 58.0]  # the level before (dashed) and after the change
    triangles = {str(c.get_label()): np.shape(c.get_offsets())[0] for c in ax.collections
                 if str(c.get_label()).startswith("rolling-variance")}
    assert triangles == {"rolling-variance alert, level up": 1,
                         "rolling-variance alert, level down": 1}
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:2] == ["posts per day", "7-day mean"]
    plt.close(fig)
