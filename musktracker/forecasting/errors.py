"""The one error type of forecasting requests, so the CLI can report any of them cleanly."""


class ForecastError(ValueError):
    """A forecast or backtest request that cannot be served; the message names the option and
    the value."""
