"""Turning fitted models into stored forecasts, window/bracket probabilities and plots."""
