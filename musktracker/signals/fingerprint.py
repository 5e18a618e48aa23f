"""Soft text fingerprints: 64-bit SimHash over word 3-shingles.

Why SimHash: near-identical texts (a copied post with one word or a link changed) get
fingerprints a few bits apart, and the fingerprint is one integer, cheap to store in Redis
or a table. Two texts are near duplicates when their fingerprints differ in at most
`MAX_DISTANCE` bits (3 of 64, the setting Manku et al. found right for web pages). Split into
four 16-bit bands, two such fingerprints agree exactly on at least one band (pigeonhole), so
a lookup needs only four exact-match keys, not a scan.
"""

from __future__ import annotations

import hashlib

import numpy as np

MAX_DISTANCE = 3
BANDS = 4
BAND_BITS = 64 // BANDS
MIN_WORDS = 4
_BITS = np.arange(64, dtype=np.uint64)


def _shingles(words: list[str]) -> list[str]:
    if len(words) < 3:
        return words
    return [" ".join(words[i : i + 3]) for i in range(len(words) - 2)]


def simhash(normalized_text: str) -> int | None:
    """SimHash of the text, or None when it is too short for a fingerprint to mean much."""
    words = normalized_text.split()
    if len(words) < MIN_WORDS:
        return None
    hashes = np.array(
        [
            int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "big")
            for s in _shingles(words)
        ],
        dtype=np.uint64,
    )
    ones = ((hashes[:, None] >> _BITS) & np.uint64(1)).sum(axis=0)
    bits = ones * 2 > len(hashes)
    return int((bits.astype(np.uint64) << _BITS).sum())


def distance(a: int, b: int) -> int:
    """Number of differing bits."""
    return (a ^ b).bit_count()


def bands(fingerprint: int) -> list[str]:
    """The band keys under which `fingerprint` is stored and looked up."""
    mask = (1 << BAND_BITS) - 1
    return [f"{i}:{(fingerprint >> (i * BAND_BITS)) & mask:04x}" for i in range(BANDS)]
