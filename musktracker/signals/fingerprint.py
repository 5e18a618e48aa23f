"""Soft text fingerprints: 64-bit SimHash over word 3-shingles.

Why SimHash: near-identical texts (a copied post with one word or a link changed) get
fingerprints a few bits apart, and the fingerprint is one integer, cheap to store in Redis
or a table. Two texts are near duplicates when their fingerprints differ in at most
`MAX_DISTANCE` bits (3 of 64, the setting Manku et al. found right for web pages). Split into
four 16-bit bands, two such fingerprints agree exactly on at least one band (pigeonhole), so
a lookup needs only four exact-match keys, not a scan.
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import blake2b as _blake2b

import numpy as np

MAX_DISTANCE = 3
BANDS = 4
BAND_BITS = 64 // BANDS
MIN_WORDS = 4


def simhashes(normalized_texts: Sequence[str]) -> list[int | None]:
    """SimHash of each text, None for texts too short for a fingerprint to mean much.

    A shingle's hash is the 8-byte BLAKE2b digest of its three words joined by spaces. One
    numpy pass over every shingle of the batch: per text, each of the 64 bits is set when
    more than half of its shingles' hashes have it set.
    """
    digests: list[bytes] = []
    owners: list[int] = []
    counts: list[int] = []
    for i, text in enumerate(normalized_texts):
        words = text.split()
        if len(words) < MIN_WORDS:
            continue
        digests += [
            _blake2b(f"{a} {b} {c}".encode(), digest_size=8).digest()
            for a, b, c in zip(words, words[1:], words[2:], strict=False)  # n - 2 shingles
        ]
        owners.append(i)
        counts.append(len(words) - 2)
    result: list[int | None] = [None] * len(normalized_texts)
    if not owners:
        return result
    bits = np.unpackbits(np.frombuffer(b"".join(digests), dtype=np.uint8)).reshape(-1, 64)
    shingles = np.array(counts)
    starts = np.zeros(len(counts), dtype=np.intp)
    np.cumsum(shingles[:-1], out=starts[1:])
    ones = np.add.reduceat(bits, starts, axis=0, dtype=np.int32)
    packed = np.packbits(ones * 2 > shingles[:, None], axis=1)
    for i, value in zip(owners, packed.view(">u8").ravel().tolist(), strict=True):
        result[i] = value
    return result


def simhash(normalized_text: str) -> int | None:
    """SimHash of one text (see `simhashes`)."""
    return simhashes([normalized_text])[0]


def distance(a: int, b: int) -> int:
    """Number of differing bits."""
    return (a ^ b).bit_count()


def band_values(fingerprint: int) -> tuple[str, str, str, str]:
    """Bands 0 to 3: band i is bits 16i to 16i+15, as four hex digits (sliced from the hex
    form: a third of the cost of shifting and formatting each band)."""
    h = f"{fingerprint:016x}"
    return h[12:], h[8:12], h[4:8], h[:4]


def bands(fingerprint: int) -> list[str]:
    """The band keys ("<band>:<hex>") under which `fingerprint` is stored and looked up."""
    b0, b1, b2, b3 = band_values(fingerprint)
    return [f"0:{b0}", f"1:{b1}", f"2:{b2}", f"3:{b3}"]
