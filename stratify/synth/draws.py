"""Seeded draws and identifiers: a random stream per part, pseudonyms, record ids."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def pseudonyms(seed: int, kind: str, n: int, start: int = 0) -> list[str]:
    """64-hex keyed hashes, standing in for the trusted third party's HMAC-SHA-256.

    Keyed by the seed so that two synthetic places never share pseudonyms.
    """
    key = hashlib.sha256(f"stratify-synth|{seed}".encode()).digest()
    return [
        hashlib.blake2b(f"{kind}|{i}".encode(), key=key, digest_size=32).hexdigest()
        for i in range(start, start + n)
    ]


def record_ids(prefix: str, start: int, n: int) -> pa.Array:
    """`PREFIX-000000123`: letters keep record ids from ever being bare 10-digit numbers."""
    nums = pc.cast(pa.array(np.arange(start, start + n, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(f"{prefix}-", pc.utf8_lpad(nums, 9, "0"), "")


def stream(seed: int, part: str) -> np.random.Generator:
    """An independent stream per part, so changing one part leaves the others' draws alone."""
    return np.random.default_rng([seed, int.from_bytes(hashlib.sha256(part.encode()).digest()[:4], "big")])


def draw_keys(rng: np.random.Generator, odds: dict[str, float], n: int) -> np.ndarray:
    """n draws of the keys of `odds` (as indices into list(odds))."""
    p = np.array(list(odds.values()), dtype=float)
    return rng.choice(len(p), size=n, p=p / p.sum())


def uniform_days(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """A uniform day in [lo, hi] for each pair."""
    return lo + np.floor(rng.random(len(lo)) * (hi - lo + 1)).astype(np.int64)
