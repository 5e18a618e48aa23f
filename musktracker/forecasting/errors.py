"""The one error type of forecasting requests, so the CLI can report any of them cleanly."""


class ForecastError(ValueError):
    """A forecast or backtest request that cannot be served; the message names the option and
    the value."""


class UnfittableModelError(ForecastError):
    """The chosen model cannot be fitted on the history the request gives it. The message
    names the option to change (`--train-days` when more days exist, else `--model`: the
    account's whole history is too short); `reason` says it without the option, for the API,
    which has no `--train-days` and names `query.model` (another model may fit)."""

    def __init__(self, option: str, model: str, reason: str) -> None:
        super().__init__(f"{option}: {reason}")
        self.model = model
        self.reason = reason
