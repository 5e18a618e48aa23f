"""Exogenous events: outside happenings that may move posting volume."""
