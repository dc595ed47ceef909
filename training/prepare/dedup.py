"""Duplicates: exact (same content once whitespace at line ends and blank lines at the
ends are ignored) and near (MinHash LSH over word shingles, as The Stack: 256
permutations, 5-word shingles, Jaccard 0.7). Of each group the first file in
(source, path) order is kept, so the result does not depend on how files were found.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import TypeVar

from datasketch import MinHash, MinHashLSH

_WORD = re.compile(r"\w+")
T = TypeVar("T")


def normalized_hash(text: str) -> str:
    """sha256 of the text with line-end whitespace and outer blank lines removed."""
    lines = [line.rstrip() for line in text.splitlines()]
    return hashlib.sha256("\n".join(lines).strip("\n").encode()).hexdigest()


def exact_unique(texts: Sequence[str]) -> tuple[list[int], list[int]]:
    """(indices kept, indices dropped as exact duplicates of an earlier text)."""
    seen: set[str] = set()
    kept, dropped = [], []
    for i, text in enumerate(texts):
        digest = normalized_hash(text)
        (dropped if digest in seen else kept).append(i)
        seen.add(digest)
    return kept, dropped


def minhash(text: str, num_perm: int, shingle: int) -> MinHash:
    """The MinHash of a text's word shingles (fixed seed: the same text, the same hash)."""
    words = _WORD.findall(text)
    grams = {" ".join(words[i : i + shingle]) for i in range(max(1, len(words) - shingle + 1))}
    m = MinHash(num_perm=num_perm, seed=1)
    m.update_batch([g.encode() for g in sorted(grams)])
    return m


def near_unique(
    hashes: Sequence[MinHash], threshold: float, num_perm: int
) -> tuple[list[int], list[int]]:
    """(indices kept, indices dropped as near-duplicates of an earlier kept one)."""
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    kept, dropped = [], []
    for i, m in enumerate(hashes):
        if any(hashes[int(j)].jaccard(m) >= threshold for j in lsh.query(m)):
            dropped.append(i)
            continue
        lsh.insert(str(i), m)
        kept.append(i)
    return kept, dropped


def close_to_any(
    hashes: Sequence[MinHash], others: Sequence[MinHash], threshold: float, num_perm: int
) -> list[int]:
    """Indices in ``hashes`` whose estimated Jaccard to one of ``others`` >= threshold."""
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    for j, m in enumerate(others):
        lsh.insert(str(j), m)
    return [
        i for i, m in enumerate(hashes)
        if any(others[int(j)].jaccard(m) >= threshold for j in lsh.query(m))
    ]
