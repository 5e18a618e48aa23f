"""Scoring forecasts: metrics, rolling backtests and regime detection."""
