"""Fingerprints: k-gram hashes of normalized text, selected by winnowing.

Guarantee (Schleimer, Wilkerson and Aiken's winnowing): two texts that share a run of
at least ``k + w - 1`` normalized characters share at least one fingerprint hash.
The defaults (k = 80, w = 71) make that 150 normalized characters, the size GitHub
uses for code referencing, while keeping about 2 / (w + 1), i.e. 2.8%, of positions.

Why k = 80 and not a smaller k with a larger w (fewer fingerprints): a fingerprint
shared by thousands of files (generated code, license headers, vendored copies) can
only be followed into a bounded number of them at query time. The longer the k-gram,
the more likely the files it leads to share the whole run. On the 586 MB benchmark
corpus, k = 40 / w = 111 found 0.89 of planted copies within the query bounds, k = 80
0.99, k = 100 0.99 with a 25% larger index (bench/RESULTS.md).

Hashes are 64-bit: a polynomial hash of the k-gram's code points (mod 2**64) passed
through a 64-bit mixer, so the winnowing minimum is not biased by the characters.
Everything is vectorized with numpy: a file is hashed in a few dozen array passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

K = 80
W = 71
_BASE = np.uint64(0x100000001B3)  # odd: multiplication by it is a bijection mod 2**64


def guarantee(k: int = K, w: int = W) -> int:
    """Shared runs of at least this many normalized characters are always found."""
    return k + w - 1


@dataclass(frozen=True)
class Fingerprints:
    hashes: np.ndarray  # uint64
    positions: np.ndarray  # int64: where each k-gram starts in the normalized text
    k: int

    def __len__(self) -> int:
        return len(self.hashes)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, vectorized (wrapping uint64 arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def kgram_hashes(text: str, k: int = K) -> np.ndarray:
    """The hash of every k-gram of ``text`` (len(text) - k + 1 of them, or none)."""
    if k < 1:
        raise ValueError("k must be at least 1")
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    n = len(codes) - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            h = h * _BASE + codes[j : j + n]
        return _mix(h)


def winnow(hashes: np.ndarray, w: int = W) -> np.ndarray:
    """Positions selected by winnowing: in every window of ``w`` consecutive hashes the
    minimum (the rightmost one on ties), each position once, in order."""
    if w < 1:
        raise ValueError("w must be at least 1")
    n = len(hashes)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n < w:  # shorter than one window: its minimum still identifies it
        return np.asarray([n - 1 - int(np.argmin(hashes[::-1]))], dtype=np.int64)
    return np.unique(_sliding_argmin(hashes, w))


def _sliding_argmin(h: np.ndarray, w: int) -> np.ndarray:
    """For each window h[i : i + w], the index of its minimum, the rightmost on ties.

    Doubling: ``best`` holds the answer for windows of ``span`` (a power of two); a
    window of w is the union of two overlapping power-of-two windows. O(n log w).
    """
    best = np.arange(len(h))
    span = 1
    while span * 2 <= w:
        left, right = best[: len(best) - span], best[span:]
        best = np.where(h[right] <= h[left], right, left)
        span *= 2
    count = len(h) - w + 1
    left, right = best[:count], best[w - span : w - span + count]
    return np.where(h[right] <= h[left], right, left)


def fingerprints(text: str, k: int = K, w: int = W) -> Fingerprints:
    hashes = kgram_hashes(text, k)
    positions = winnow(hashes, w)
    return Fingerprints(hashes[positions], positions.astype(np.int64), k)
