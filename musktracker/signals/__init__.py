"""Signals: posts and model outputs turned into scored events, delivered through an outbox.

Flow: sources -> filter -> refine -> dedup -> enrich -> rules -> store (events, signals and
outbox rows in one transaction) -> dispatcher -> Telegram / webhook. See docs/SIGNALS.md.
"""
