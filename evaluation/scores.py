"""Scores of the repository-level benchmark: exact match and edit similarity.

Both compare texts with trailing whitespace stripped (of every line, and trailing
blank lines). Edit similarity is ``1 - levenshtein(a, b) / max(len(a), len(b))``
(1.0 for two empty texts), as in CrossCodeEval's "ES".
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable


def normalize(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.rstrip().split("\n"))


def exact_match(predicted: str, expected: str) -> bool:
    return normalize(predicted) == normalize(expected)


def levenshtein(a: str, b: str) -> int:
    """Edits (insert, delete, substitute one character) that turn ``a`` into ``b``."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def edit_similarity(predicted: str, expected: str) -> float:
    a, b = normalize(predicted), normalize(expected)
    if not a and not b:
        return 1.0
    return 1.0 - levenshtein(a, b) / max(len(a), len(b))


def summarize(rows: Iterable[dict], mode: str) -> dict:
    """{tasks, exact_match, edit_similarity, p50_ms, p95_ms} of ``mode`` over per-task
    rows that hold ``<mode>_em``, ``<mode>_es`` and ``<mode>_ms``."""
    rows = [r for r in rows if f"{mode}_em" in r]
    if not rows:
        return {"tasks": 0}
    lat = sorted(r[f"{mode}_ms"] for r in rows)
    return {
        "tasks": len(rows),
        "exact_match": sum(r[f"{mode}_em"] for r in rows) / len(rows),
        "edit_similarity": statistics.fmean(r[f"{mode}_es"] for r in rows),
        "p50_ms": statistics.median(lat),
        "p95_ms": lat[math.ceil(0.95 * len(lat)) - 1],  # nearest rank
    }
