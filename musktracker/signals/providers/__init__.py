"""Enrichment providers: DEX market data (DexScreener) and token security (GoPlus)."""
