"""Filter stage: drop what is not worth scoring, with the reason kept for the logs.

Checks, cheapest first: blocked accounts, blocked words, spam heuristics, then language.
Language uses lingua (its models ship inside the wheel, so it works offline); a text too
short or mixed to call is let through rather than dropped on a guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from lingua import IsoCode639_1, LanguageDetector, LanguageDetectorBuilder

from musktracker.config import SettingsError
from musktracker.signals.event import PipelineEvent

# Languages the detector chooses among besides the allowed ones: the most common on X. A
# post in another language is reported as its nearest; fewer candidates is faster (lingua's
# cost grows with each language it weighs).
_COMMON_LANGUAGES = frozenset({"en", "es", "pt", "ja", "fr", "de"})
_STRIP_FOR_LANGUAGE = re.compile(r"https?://\S+|[@$#]\w+|0x[0-9a-fA-F]+|\d+")
_WORD = re.compile(r"[^\W\d_]{2,}")
_MENTION = re.compile(r"@\w+")
_CASHTAG = re.compile(r"\$[A-Za-z]\w*")
_REPEAT = re.compile(r"(.)\1{7,}")
_BAIT = re.compile(
    r"\b(airdrop|giveaway|free\s+crypto|claim\s+now|dm\s+me|send\s+\d+\s*\w+\s+get)\b", re.I
)


@lru_cache(maxsize=4)
def _detector(allowed: frozenset[str]) -> LanguageDetector:
    codes = [getattr(IsoCode639_1, code.upper()) for code in sorted(allowed | _COMMON_LANGUAGES)]
    return (
        LanguageDetectorBuilder.from_iso_codes_639_1(*codes)
        .with_low_accuracy_mode()
        .with_minimum_relative_distance(0.1)
        .build()
    )


def detect_language(text: str, allowed: frozenset[str] = frozenset()) -> str | None:
    """ISO 639-1 code of `text`, or None when it has too few words to tell."""
    letters = _STRIP_FOR_LANGUAGE.sub(" ", text)
    if len(_WORD.findall(letters)) < 3:
        return None
    found = _detector(allowed).detect_language_of(letters)
    return found.iso_code_639_1.name.lower() if found is not None else None


def spam_reason(text: str) -> str | None:
    """Why `text` looks like spam, or None. Heuristics aimed at crypto reply spam."""
    if len(_CASHTAG.findall(text)) > 5:
        return "more than 5 cashtags"
    if len(_MENTION.findall(text)) > 5:
        return "more than 5 mentions"
    if _REPEAT.search(text):
        return "a character repeated 8+ times"
    if _BAIT.search(text) and "http" in text:
        return "giveaway/airdrop bait with a link"
    letters = sum(map(str.isalpha, text))
    if letters >= 20 and sum(map(str.isupper, text)) / letters > 0.8:
        return "mostly capital letters"
    return None


def _csv(value: str) -> list[str]:
    return [part.strip().lower() for part in value.split(",") if part.strip()]


@dataclass(frozen=True)
class FilterConfig:
    """What the filter lets through; built from settings."""

    languages: frozenset[str]
    blocked_accounts: frozenset[str]
    blocked_words: tuple[str, ...]

    @classmethod
    def from_strings(cls, languages: str, accounts: str, words: str) -> FilterConfig:
        codes = frozenset(_csv(languages))
        unknown = sorted(c for c in codes if not hasattr(IsoCode639_1, c.upper()))
        if unknown:
            raise SettingsError(
                f"SIGNALS_LANGUAGES={languages!r}: {unknown} are not ISO 639-1 language codes"
            )
        return cls(
            languages=codes,
            blocked_accounts=frozenset(a.lstrip("@") for a in _csv(accounts)),
            blocked_words=tuple(_csv(words)),
        )


def filter_reason(event: PipelineEvent, config: FilterConfig) -> str | None:
    """Why `event` should be dropped, or None to keep it; sets `event.lang`."""
    raw = event.raw
    if raw.account and raw.account in config.blocked_accounts:
        return f"account @{raw.account} is blocked"
    text = raw.text
    if not text:
        return None
    lowered = text.lower()
    for word in config.blocked_words:
        if word in lowered:
            return f"blocked word {word!r}"
    spam = spam_reason(text)
    if spam:
        return f"spam: {spam}"
    event.lang = detect_language(text, config.languages)
    if config.languages and event.lang is not None and event.lang not in config.languages:
        return f"language {event.lang!r} not in {sorted(config.languages)}"
    return None


def apply_filter(events: Iterable[PipelineEvent], config: FilterConfig) -> None:
    """Mark dropped events in place (`event.dropped` holds the reason)."""
    for event in events:
        if event.dropped is None:
            event.dropped = filter_reason(event, config)
