"""One model's figures on a dataset's held-out files: single-line infilling exact match
and edit similarity on tasks built by the repository benchmark's task builder
(evaluation/repo_tasks.py: ``line`` and ``midline``, Python files), held-out loss
(evaluation/loss.py) over every held-out file, and HumanEval single-line infilling
pass@1 (evaluation/humaneval.py) as the forgetting check."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

from evaluation.humaneval import Task, pass_flags
from evaluation.infill import answer, open_model, template_of
from evaluation.loss import WINDOW, heldout_loss
from evaluation.repo_tasks import RepoTask, build_tasks
from evaluation.scores import edit_similarity, exact_match
from training.evaluate.candidates import Candidate
from training.prepare.dataset import Row

KINDS = ("line", "midline")


@dataclass(frozen=True)
class Plan:
    tasks: list[RepoTask]
    texts: list[str]  # held-out files, for the loss
    humaneval: list[Task]
    loss_tokens: int
    threads: int = 0


def heldout_tasks(rows: list[Row], per_kind: int, seed: int = 0) -> list[RepoTask]:
    """Up to ``per_kind`` tasks of each one-line kind from each source's Python files."""
    tasks: list[RepoTask] = []
    for source in sorted({r.source for r in rows}):
        files = {r.path: r.content for r in rows if r.source == source and r.path.endswith(".py")}
        tasks += build_tasks(source, files, KINDS, per_kind, seed, split="heldout")
    return tasks


def _infill_scores(llm, template, plan: Plan, log: Callable[[str], None]) -> dict:
    found = {kind: [] for kind in KINDS}
    for n, task in enumerate(plan.tasks, 1):
        text, _ = answer(llm, template, task.prefix, task.suffix, one_line=True)
        found[task.kind].append((exact_match(text, task.middle),
                                 edit_similarity(text, task.middle)))
        if n % 25 == 0:
            log(f"  {n}/{len(plan.tasks)} held-out tasks")
    every = [s for kind in KINDS for s in found[kind]]
    out = {"tasks": len(every)}
    for name, scores in (("all", every), *found.items()):
        if scores:
            out[f"exact_match_{name}"] = round(sum(em for em, _ in scores) / len(scores), 4)
            out[f"edit_similarity_{name}"] = round(statistics.fmean(es for _, es in scores), 4)
    return out


def _humaneval(llm, template, tasks: list[Task]) -> dict:
    if not tasks:
        return {}
    middles = [answer(llm, template, t.prefix, t.after, one_line=True)[0] for t in tasks]
    ok = pass_flags(tasks, middles)
    return {"humaneval_tasks": len(tasks), "humaneval_pass@1": round(sum(ok) / len(ok), 4)}


def measure(candidate: Candidate, plan: Plan, log: Callable[[str], None]) -> dict:
    """The candidate's figures (exact match, edit similarity, loss, HumanEval)."""
    log(f"{candidate.label}: {candidate.describe()}")
    llm = open_model(candidate.model, candidate.lora, threads=plan.threads)
    try:
        template = template_of(llm, candidate.model)
        figures = _infill_scores(llm, template, plan, log)
        figures.update(_humaneval(llm, template, plan.humaneval))
    finally:
        llm.close()
    if plan.loss_tokens:
        llm = open_model(candidate.model, candidate.lora, n_ctx=WINDOW + 1,
                         threads=plan.threads, logits_all=True)
        try:
            figures.update(heldout_loss(llm, plan.texts, plan.loss_tokens))
        finally:
            llm.close()
    return figures
