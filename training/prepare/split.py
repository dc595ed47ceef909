"""The held-out split: by file, seeded, stable. A file's side is decided by a hash of
(seed, source, path), so a file keeps its side when others are added or removed,
and no line of a held-out file is ever trained on."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def _unit(seed: int, source: str, path: str) -> float:
    digest = hashlib.sha256(f"{seed}\0{source}\0{path}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def heldout_indices(keys: Sequence[tuple[str, str]], fraction: float, seed: int) -> set[int]:
    """Indices of the (source, path) keys held out: those whose hash falls below
    ``fraction``; with two files or more at least one is held out and one is kept."""
    units = [_unit(seed, source, path) for source, path in keys]
    held = {i for i, u in enumerate(units) if u < fraction}
    if len(keys) >= 2 and not held:
        held = {min(range(len(keys)), key=units.__getitem__)}
    if len(keys) >= 2 and len(held) == len(keys):
        held.discard(max(range(len(keys)), key=units.__getitem__))
    return held
