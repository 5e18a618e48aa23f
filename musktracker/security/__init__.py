"""API keys and per-key rate limits."""
