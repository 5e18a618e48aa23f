from __future__ import annotations

from datetime import UTC, datetime

import base58
import pytest
from pydantic import ValidationError

from musktracker.signals import fingerprint as fp
from musktracker.signals.event import PipelineEvent, RawEvent
from musktracker.signals.filter import FilterConfig, detect_language, filter_reason, spam_reason
from musktracker.signals.refine import is_solana_address, normalize_text, refine

WSOL = "So11111111111111111111111111111111111111112"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def event(text: str, **kw: object) -> PipelineEvent:
    return PipelineEvent(raw=RawEvent(source="t", source_id="1", created_at=T0, text=text, **kw))


def test_refine_extracts_entities() -> None:
    evm = "0x" + "Ab" * 20
    e = event(f"Buying $doge and $PEPE2 at {evm} and {WSOL}, see https://x.com/a/1. Costs $5")
    refine(e)
    assert e.cashtags == ["DOGE", "PEPE2"]
    assert e.evm_addresses == [evm.lower()]
    assert e.solana_addresses == [WSOL]
    assert e.urls == ["https://x.com/a/1"]
    assert e.token == ("ethereum", evm.lower())
    assert e.event_key == f"token:ethereum:{evm.lower()}:2026-01-01"


def test_solana_address_must_decode_to_32_bytes() -> None:
    assert is_solana_address(WSOL)
    short = base58.b58encode(b"x" * 24).decode()  # valid base58, 33 chars, 24 bytes
    assert 32 <= len(short) <= 44 and not is_solana_address(short)
    assert not is_solana_address("0OIl" * 9)  # not base58 alphabet


def test_normalized_text_and_near_duplicate_fingerprints() -> None:
    a = normalize_text("The rocket launch is scheduled for Friday at dawn!! https://t.co/x @bob")
    b = normalize_text("the rocket launch is scheduled for friday at dawn!! https://t.co/y")
    c = normalize_text("Completely different words about electric cars and batteries today")
    assert a == b
    pa, pc = fp.simhash(a), fp.simhash(c)
    assert pa is not None and pc is not None
    edited = fp.simhash(normalize_text("The rocket launch is scheduled for Friday at dawn!! wow"))
    assert edited is not None and fp.distance(pa, edited) < fp.distance(pa, pc)
    assert fp.simhash("too short") is None
    assert len(fp.bands(pa)) == fp.BANDS


def test_language_and_filters() -> None:
    assert detect_language("This is a perfectly ordinary English sentence about rockets") == "en"
    assert detect_language("Esta es una frase normal en español sobre los cohetes") == "es"
    assert detect_language("$DOGE 🚀") is None
    # English words inside another language do not trip the English fast path.
    assert detect_language("Hoy es un gran día para todos nosotros, the best of the year") == "es"
    assert (
        detect_language("Bayern Munich are winning at Bayer Leverkusen, the fans are happy") == "en"
    )
    config = FilterConfig.from_strings("en", "@Spammer", "rugpull")
    assert filter_reason(event("hola amigos esto es una frase en español"), config)
    assert filter_reason(event("hello", account="SPAMMER"), config) == "account @spammer is blocked"
    assert "blocked word" in (filter_reason(event("total RUGPULL here"), config) or "")
    assert filter_reason(event("We are launching the rocket tomorrow morning"), config) is None
    assert spam_reason("FREE AIRDROP claim now http://scam") is not None
    assert spam_reason("$A $B $C $D $E $F") == "more than 5 cashtags"


def test_raw_event_validation_names_field() -> None:
    with pytest.raises(ValidationError, match="created_at"):
        RawEvent(source="t", source_id="1", created_at=datetime(2026, 1, 1), text="x")
    with pytest.raises(ValidationError, match="source"):
        RawEvent(source="Bad Source!", source_id="1", created_at=T0)


def test_fingerprints_stay_what_earlier_versions_stored() -> None:
    """Stored fingerprints (database rows, Redis keys) live 14 days: a faster SimHash must
    give the same bits, or near copies of posts seen before an upgrade slip through."""
    texts = [
        "The rocket launch is scheduled for Friday at dawn",
        "Gas by my house hit $3.39!!!! I\u2019m going to Chapel Hill on Sat. :)",
        "one two three four",
        "too short",
    ]
    prints = fp.simhashes([normalize_text(t) for t in texts])
    assert [None if p is None else f"{p:016x}" for p in prints] == [
        "92ff9f796e64bc2c",
        "fd3ac92b95628c75",
        "0044101151421a32",
        None,
    ]
    assert prints[:3] == [fp.simhash(normalize_text(t)) for t in texts[:3]]


def test_bands_are_the_four_16_bit_slices() -> None:
    for print_ in (0, 2**64 - 1, 0x0123_4567_89AB_CDEF, 0xF00D_0000_0000_BEEF):
        expected = [f"{i}:{(print_ >> (16 * i)) & 0xFFFF:04x}" for i in range(fp.BANDS)]
        assert fp.bands(print_) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Tesla will spend 1000000000 dollars on the new plant in Texas",
        "The ETH deposit contract 0x00000000219ab540356cBB839Cbe05303d7705Fa holds a lot",
        "Nooooooooo way",
        "Sooooooooooooo good",  # 13 o's: still someone stretching a word
        "Vanity 0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa contract",
        f"Wrapped SOL is {WSOL}",
    ],
)
def test_long_numbers_addresses_and_stretched_words_are_not_spam(text: str) -> None:
    assert spam_reason(text) is None
    config = FilterConfig.from_strings("", "", "")
    assert filter_reason(event(text), config) is None


def test_repeated_symbols_and_absurd_letter_runs_are_still_spam() -> None:
    assert spam_reason("buy now 🚀🚀🚀🚀🚀🚀🚀🚀") == "a symbol repeated 8+ times"
    assert spam_reason("$$$$$$$$ easy money") == "a symbol repeated 8+ times"
    assert spam_reason("Yesssssssssssssssssss") == "a letter repeated 15+ times"
    assert spam_reason("aaaaaaaaaaaaaaa 0x" + "a" * 40) == "a letter repeated 15+ times"
