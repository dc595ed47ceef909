"""Duplicates and the held-out split (training/prepare/dedup.py, split.py)."""

from __future__ import annotations

import random

from training.prepare import dedup
from training.prepare.split import heldout_indices


def _program(seed: int, n: int = 40) -> str:
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "total", "count", "index", "value", "node"]
    return "".join(
        f"def f{seed}_{i}({rng.choice(words)}, {rng.choice(words)}):\n"
        f"    return {rng.choice(words)} + {rng.randint(0, 999)}\n"
        for i in range(n)
    )


def test_exact_duplicates_ignore_trailing_whitespace_and_outer_blank_lines():
    a = "x = 1\ny = 2\n"
    kept, dropped = dedup.exact_unique([a, "\n\nx = 1   \ny = 2\n\n", "x = 1\ny = 3\n"])
    assert (kept, dropped) == ([0, 2], [1])


def test_a_near_copy_is_dropped_and_a_different_file_kept():
    base = _program(1)
    lines = base.splitlines(keepends=True)
    near = "".join(lines[:-2]) + "# edited\n"  # the same file with its last function changed
    other = _program(2)
    hashes = [dedup.minhash(t, 256, 5) for t in (base, near, other)]
    assert hashes[0].jaccard(hashes[1]) > 0.85
    assert hashes[0].jaccard(hashes[2]) < 0.3
    assert dedup.near_unique(hashes, 0.7, 256) == ([0, 2], [1])


def test_close_to_any_finds_training_files_close_to_held_out_ones():
    held = [dedup.minhash(_program(7), 256, 5)]
    train = [dedup.minhash(t, 256, 5) for t in (_program(7)[:-20], _program(8))]
    assert dedup.close_to_any(train, held, 0.5, 256) == [0]


def test_the_split_is_stable_and_by_file():
    keys = [("repo", f"src/m{i}.py") for i in range(200)]
    held = heldout_indices(keys, 0.1, seed=0)
    assert held == heldout_indices(keys, 0.1, seed=0)
    assert 8 <= len(held) <= 35
    assert held != heldout_indices(keys, 0.1, seed=1)
    # adding files does not move the existing ones
    more = keys + [("repo", f"lib/n{i}.py") for i in range(50)]
    assert {i for i in heldout_indices(more, 0.1, seed=0) if i < 200} == held


def test_a_small_repository_still_has_both_sides():
    keys = [("r", "a.py"), ("r", "b.py")]
    held = heldout_indices(keys, 0.1, seed=0)
    assert len(held) == 1
    assert len(heldout_indices(keys, 0.99, seed=0)) == 1
