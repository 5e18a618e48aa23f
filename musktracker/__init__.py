"""MuskTracker: calibrated post-volume forecasts, sentiment and signals for X accounts."""

__version__ = "0.1.0"
