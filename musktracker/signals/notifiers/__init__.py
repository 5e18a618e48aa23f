"""Delivery channels: Telegram Bot API and signed webhooks."""
