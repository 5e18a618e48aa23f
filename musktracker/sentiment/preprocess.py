"""Tweet text normalisation, shared by training and inference so both see the same input.

The transformer gets mentions, links, emoji, hashtags and whitespace normalised (it has its
own lower-casing tokenizer); the classic model additionally gets lower-case text and, if
asked, a built-in English stop-word list removed (no NLTK or spaCy data: nothing is
downloaded at run time).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

import emoji
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

HashtagMode = Literal["keep", "strip", "remove"]

_MENTION = re.compile(r"(?<![\w@])@\w{1,15}")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HASHTAG = re.compile(r"#(\w+)")
_EMOJI_NAME = re.compile(r":([a-z0-9_\-&.\u2019'!()]+):", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+|[^\w\s]+")
# Sentiment-bearing function words stay even when stop words are removed.
_KEEP = frozenset({"no", "not", "nor", "never", "nothing", "none", "cannot", "off", "against"})
STOP_WORDS = frozenset(ENGLISH_STOP_WORDS) - _KEEP


@dataclass(frozen=True)
class PreprocessConfig:
    """How text is normalised; stored with each model so inference repeats it exactly."""

    mentions: bool = True
    urls: bool = True
    emoji_to_text: bool = True
    hashtags: HashtagMode = "strip"
    lowercase: bool = False
    remove_stop_words: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessConfig:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


TRANSFORMER_PREPROCESS = PreprocessConfig()
CLASSIC_PREPROCESS = PreprocessConfig(lowercase=True)


def _emoji_words(text: str) -> str:
    """Emoji to their names as words: "😂" becomes " face with tears of joy "."""
    named = emoji.demojize(text, delimiters=(" :", ": "))
    return _EMOJI_NAME.sub(lambda m: " " + m.group(1).replace("_", " ") + " ", named)


def preprocess(text: str, config: PreprocessConfig = TRANSFORMER_PREPROCESS) -> str:
    """Normalise one text according to `config`."""
    if config.urls:
        text = _URL.sub("http", text)
    if config.mentions:
        text = _MENTION.sub("@user", text)
    if config.emoji_to_text:
        text = _emoji_words(text)
    if config.hashtags == "strip":
        text = _HASHTAG.sub(r"\1", text)
    elif config.hashtags == "remove":
        text = _HASHTAG.sub(" ", text)
    if config.lowercase:
        text = text.lower()
    if config.remove_stop_words:
        text = " ".join(t for t in _WORD.findall(text) if t.lower() not in STOP_WORDS)
    return _SPACE.sub(" ", text).strip()


def preprocess_all(texts: list[str], config: PreprocessConfig) -> list[str]:
    """`preprocess` over a list."""
    return [preprocess(t, config) for t in texts]
