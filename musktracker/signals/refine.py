"""Refine stage: normalized text and the entities rules care about.

Extracts cashtags (`$DOGE`), EVM contracts (`0x` + 40 hex, lower-cased: EVM addresses
ignore case), Solana addresses (base58, 32 to 44 characters, that decode to exactly 32
bytes: the length of an ed25519 public key, which rejects most base58-looking words) and
URLs; takes the sentiment score from the producer or from a scorer when one is installed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

import base58

from musktracker.signals.event import PipelineEvent

SentimentScorer = Callable[[str], float | None]
"""Maps text to a score in [-1, 1]; plugged in when the sentiment model is available."""

_URL = re.compile(r"https?://[^\s<>\"']+")
_CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z][A-Za-z0-9]{0,9})\b")
_EVM = re.compile(r"\b0x[0-9a-fA-F]{40}\b")
_SOLANA_CANDIDATE = re.compile(r"(?<![A-Za-z0-9])[1-9A-HJ-NP-Za-km-z]{32,44}(?![A-Za-z0-9])")
_MENTION = re.compile(r"@\w+")
_PUNCTUATION = re.compile(r"[^\w\s$]")


def normalize_text(text: str) -> str:
    """NFKC, lower case, no URLs, mentions or punctuation, single spaces: the dedup form."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _URL.sub(" ", text)
    text = _MENTION.sub(" ", text)
    # split() breaks on exactly the characters re's \s matches (both use Py_UNICODE_ISSPACE).
    return " ".join(_PUNCTUATION.sub(" ", text).split())


def is_solana_address(candidate: str) -> bool:
    """True when `candidate` is base58 text that decodes to a 32-byte public key."""
    if not 32 <= len(candidate) <= 44:
        return False
    try:
        return len(base58.b58decode(candidate)) == 32
    except ValueError:
        return False


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def refine(event: PipelineEvent, scorer: SentimentScorer | None = None) -> None:
    """Fill the derived fields of `event` from its text."""
    text = event.raw.text
    event.normalized_text = normalize_text(text)
    event.urls = _unique(u.rstrip(".,;:!?)") for u in _URL.findall(text))
    without_urls = _URL.sub(" ", text)
    # Most posts name no token: a cashtag needs a '$', a contract '0x'.
    if "$" in without_urls:
        event.cashtags = _unique(tag.upper() for tag in _CASHTAG.findall(without_urls))
    if "0x" in without_urls:
        event.evm_addresses = _unique(a.lower() for a in _EVM.findall(without_urls))
    event.solana_addresses = _unique(
        c for c in _SOLANA_CANDIDATE.findall(without_urls) if is_solana_address(c)
    )
    event.sentiment = event.raw.sentiment
    if event.sentiment is None and scorer is not None and text:
        event.sentiment = scorer(text)


def apply_refine(events: Iterable[PipelineEvent], scorer: SentimentScorer | None = None) -> None:
    """Refine every event that is still in the pipeline."""
    for event in events:
        if event.dropped is None:
            refine(event, scorer)
