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
from collections.abc import Sequence

import numpy as np

MAX_DISTANCE = 3
BANDS = 4
BAND_BITS = 64 // BANDS
MIN_WORDS = 4


def _shingles(words: list[str]) -> list[str]:
    if len(words) < 3:
        return words
    return [" ".join(words[i : i + 3]) for i in range(len(words) - 2)]


def simhashes(normalized_texts: Sequence[str]) -> list[int | None]:
    """SimHash of each text, None for texts too short for a fingerprint to mean much.

    One numpy pass over every shingle of the batch: per text, each of the 64 bits is set
    when more than half of its shingles' hashes have it set.
    """
    digests: list[bytes] = []
    owners: list[tuple[int, int]] = []
    for i, text in enumerate(normalized_texts):
        words = text.split()
        if len(words) < MIN_WORDS:
            continue
        shingles = _shingles(words)
        digests += [hashlib.blake2b(s.encode(), digest_size=8).digest() for s in shingles]
        owners.append((i, len(shingles)))
    result: list[int | None] = [None] * len(normalized_texts)
    if not owners:
        return result
    bits = np.unpackbits(np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(-1, 8), axis=1)
    counts = np.array([n for _, n in owners])
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    ones = np.add.reduceat(bits.astype(np.int32), starts, axis=0)
    packed = np.packbits(ones * 2 > counts[:, None], axis=1)
    for (i, _), row in zip(owners, packed, strict=True):
        result[i] = int.from_bytes(row.tobytes(), "big")
    return result


def simhash(normalized_text: str) -> int | None:
    """SimHash of one text (see `simhashes`)."""
    return simhashes([normalized_text])[0]


def distance(a: int, b: int) -> int:
    """Number of differing bits."""
    return (a ^ b).bit_count()


def bands(fingerprint: int) -> list[str]:
    """The band keys under which `fingerprint` is stored and looked up."""
    mask = (1 << BAND_BITS) - 1
    return [f"{i}:{(fingerprint >> (i * BAND_BITS)) & mask:04x}" for i in range(BANDS)]
