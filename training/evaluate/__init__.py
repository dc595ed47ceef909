"""``train eval``: the base model and the tuned one (and any further tuned models, such
as the exported GGUF beside the adapter) measured on a dataset's held-out files by
the same task builder and scores as the repository benchmark, plus HumanEval
single-line infilling as the forgetting check; one table, one JSON report."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from evaluation.humaneval import single_line_tasks
from evaluation.sampling import spread
from training.errors import TrainingError
from training.evaluate import cache
from training.evaluate.candidates import Candidate, candidates
from training.evaluate.measure import Plan, heldout_tasks, measure
from training.evaluate.report import table
from training.prepare import dataset


def _plan(dataset_dir: Path, per_kind: int, humaneval: int, loss_tokens: int,
          threads: int) -> Plan:
    rows = dataset.read(dataset_dir, "heldout")
    if not rows:
        raise TrainingError(f"{dataset_dir} holds no held-out files to evaluate on")
    tasks = heldout_tasks(rows, per_kind)
    he = spread(single_line_tasks(), humaneval) if humaneval else []
    return Plan(tasks, [r.content for r in rows], he, loss_tokens, threads)


def _settings(dataset_dir: Path, per_kind: int, humaneval: int, loss_tokens: int) -> str:
    version = dataset.recorded_version(dataset_dir)
    return f"{dataset_dir.absolute()}:{version}:{per_kind}:{humaneval}:{loss_tokens}"


def _figures(candidate: Candidate, plan: Plan, settings: str,
             log: Callable[[str], None]) -> dict:
    """The candidate's figures: measured, or as measured before with the same settings."""
    name = cache.key(candidate, settings)
    found = cache.load(name)
    if found is not None:
        log(f"{candidate.label}: {candidate.describe()} (measured before)")
        return found
    figures = measure(candidate, plan, log)
    cache.store(name, figures)
    return figures


def evaluate(
    models: list[Path], dataset_dir: Path, base: Path | None = None, per_kind: int = 50,
    humaneval: int = 200, loss_tokens: int = 8192, threads: int = 0, out: Path | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Measure the base of ``models[0]`` and every model; returns the report."""
    first_base, tuned = candidates(models[0], base)
    compared = [first_base, tuned]
    for extra in models[1:]:
        compared.append(replace(candidates(extra, base)[1], label=extra.stem))
    plan = _plan(dataset_dir, per_kind, humaneval, loss_tokens, threads)
    if not plan.tasks:
        log("no Python held-out files: exact match is not measured")
    settings = _settings(dataset_dir, per_kind, humaneval, loss_tokens)
    results = [
        {"label": c.label, "model": c.describe(), "figures": _figures(c, plan, settings, log)}
        for c in compared
    ]
    report = {"dataset": str(dataset_dir.absolute()), "results": results,
              "table": table(results)}
    if out is not None:
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(json.dumps(report, indent=2) + "\n")
        os.replace(tmp, out)
    return report
