"""Taking a fixed number of items spread evenly over a list (the benchmarks' and
`train eval`'s ``--limit``-style options), so a subset covers the whole set."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def spread(items: list[T], limit: int) -> list[T]:
    """``limit`` items spread evenly over ``items`` (all with 0)."""
    if not limit or limit >= len(items):
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]
