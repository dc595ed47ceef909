"""Repository-level completion: the raw model vs the full pipeline through the LSP.

Tasks (evaluation/repo_tasks.py) come from eight pinned projects of the package index
(bench/repo_projects.py), 50 of each kind per project by default (1,200 in all); the
split is by project (``tune``: five projects, ``heldout``: three, never used for
tuning). ``--limit N`` takes N tasks of each kind, spread evenly over the split.

- raw: llama.cpp directly (llama_cpp.Llama.create_completion), the model's FIM prompt
  of prefix and suffix alone (bench/humaneval_infill.py's ``raw_prompt``, psm), clipped
  at whole lines to the server's default budgets (768 prefix tokens, 192 suffix
  tokens), greedy; line and midline stop at the newline, block generates to the end
  of infill (256 tokens) and is scored with ``obvious_cut`` (``raw+cut``) as well as
  whole.
- lsp: the real server over stdio, its workspace a scratch copy of the project. The
  task's file is written there with the hole (what the developer has not written yet
  is nowhere on disk), its other files are opened first, then the file itself; an
  automatic inline-completion request at the cursor, default settings unless
  ``--lsp-option`` / ``--threads`` say otherwise (on a busy machine the server's
  3 s time budget cuts answers short: say so with the figures).
  No server sees the hidden text: one server runs per project and "session", a session
  holding at most one task per file, every task file of the session holed on disk
  from the start and opened holed where it is another task's other file.

Scores: exact match (trailing whitespace stripped) and edit similarity
(evaluation/scores.py), per mode, split and kind; JSON with per-task results.
Usage: python -m bench.repobench [--kind line|midline|block|all] [--split tune|heldout|all]
    [--limit N] [--per-kind N] [--skip-raw] [--skip-lsp] [--threads N]
    [--lsp-option KEY=VALUE ...] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.humaneval_infill import Task, obvious_cut, raw_prompt
from bench.lspclient import BenchClient, lsp_options
from bench.repo_projects import PROJECTS, fetch, read_files, split_of
from engine.fim import QWEN
from evaluation.infill import PREFIX_TOKENS, SUFFIX_TOKENS, clip
from evaluation.repo_tasks import KINDS, RepoTask, build_tasks
from evaluation.sampling import spread
from evaluation.scores import edit_similarity, exact_match, summarize

ONE_LINE_KINDS = ("line", "midline")


def load(split: str) -> dict[str, dict[str, str]]:
    """{project: its files} of ``split`` ("all": every project), fetched if needed."""
    return {
        p.name: read_files(p, fetch(p))
        for p in PROJECTS
        if split == "all" or split_of(p.name) == split
    }


def select(
    projects: dict[str, dict[str, str]], kinds: tuple[str, ...], per_kind: int, limit: int
) -> list[RepoTask]:
    tasks: list[RepoTask] = []
    built = [
        build_tasks(name, files, kinds, per_kind, split=split_of(name))
        for name, files in projects.items()
    ]
    for kind in kinds:
        tasks += spread([t for ts in built for t in ts if t.kind == kind], limit)
    return tasks


# -- raw -------------------------------------------------------------------------


def raw_tasks(tasks: list[RepoTask], model_path: str) -> list[Task]:
    """The tasks as bench/humaneval_infill.py's Task, prefix and suffix clipped."""
    import llama_cpp

    vocab = llama_cpp.Llama(model_path, vocab_only=True, verbose=False)
    out = []
    for task in tasks:
        prefix = clip(vocab.tokenize, task.prefix, PREFIX_TOKENS, keep_end=True)
        suffix = clip(vocab.tokenize, task.suffix, SUFFIX_TOKENS, keep_end=False)
        out.append(Task(task.task_id, task.line, prefix, suffix, task.middle, "", "", False))
    vocab.close()
    return out


def generate(
    tasks: list[Task], model_path: str, one_line: bool, threads: int = 0
) -> list[tuple[str, float]]:
    """Greedy answers of llama.cpp to ``raw_prompt`` (psm); ``one_line``: stop at the
    first newline (at most 128 tokens), else at the end of infill (256 tokens)."""
    import llama_cpp

    from engine.llama_model import default_threads

    threads = threads or default_threads()
    llm = llama_cpp.Llama(
        model_path, n_ctx=4096, n_threads=threads, n_threads_batch=threads, verbose=False
    )
    stop = ["\n", *QWEN.stop_words] if one_line else list(QWEN.stop_words)
    out = []
    for task in tasks:
        t0 = time.perf_counter()
        res = llm.create_completion(
            raw_prompt(task),
            max_tokens=128 if one_line else 256,
            temperature=0.0,
            top_k=1,
            stop=stop,
        )
        out.append((res["choices"][0]["text"], (time.perf_counter() - t0) * 1000))
    llm.close()
    return out


def run_raw(tasks: list[RepoTask], model_path: str, threads: int = 0) -> list[dict]:
    clipped = raw_tasks(tasks, model_path)
    rows: list[dict] = [{} for _ in tasks]
    for one_line in (True, False):
        idx = [i for i, t in enumerate(tasks) if (t.kind in ONE_LINE_KINDS) == one_line]
        if not idx:
            continue
        answers = generate([clipped[i] for i in idx], model_path, one_line, threads)
        for i, (text, ms) in zip(idx, answers, strict=True):
            expected = tasks[i].middle
            rows[i].update(_scored("raw", text, ms, expected))
            if not one_line:
                rows[i].update(_scored("raw+cut", obvious_cut(clipped[i], text), ms, expected))
    return rows


def _scored(mode: str, text: str, ms: float, expected: str) -> dict:
    return {
        mode: text,
        f"{mode}_em": exact_match(text, expected),
        f"{mode}_es": edit_similarity(text, expected),
        f"{mode}_ms": ms,
    }


# -- through the LSP ---------------------------------------------------------------


def holed(task: RepoTask) -> str:
    return task.prefix + task.suffix


def sessions(tasks: list[RepoTask]) -> list[list[int]]:
    """Task indices grouped per project into sessions with at most one task per file
    (a file's n-th task goes to the project's n-th session)."""
    groups: dict[tuple[str, int], list[int]] = {}
    seen: dict[tuple[str, str], int] = {}
    for i, task in enumerate(tasks):
        n = seen.get((task.project, task.path), 0)
        seen[(task.project, task.path)] = n + 1
        groups.setdefault((task.project, n), []).append(i)
    return [groups[k] for k in sorted(groups, key=lambda k: (k[0], k[1]))]


def _workspace(project: str, session: list[RepoTask], parent: Path) -> Path:
    """A scratch copy of the project with every task file of ``session`` holed."""
    source = fetch(next(p for p in PROJECTS if p.name == project))
    root = parent / source.name
    shutil.copytree(source, root, ignore=shutil.ignore_patterns(".complete"))
    for task in session:
        (root / task.path).write_text(holed(task), encoding="utf-8")
    return root


async def _session(
    root: Path, session: list[RepoTask], files: dict[str, str], options: dict | None
) -> list[dict]:
    texts = {t.path: holed(t) for t in session}  # the session's files, holed
    client = BenchClient(init_options=options, root=root)
    await client.start()
    rows = []
    try:
        for task in session:
            uris = []
            for path in (*task.others, task.path):
                uri = (root / path).resolve().as_uri()
                client.open(uri, texts.get(path, files[path]))
                uris.append(uri)
            t0 = time.perf_counter()
            text = await client.inline(uris[-1], task.line, task.column)
            ms = (time.perf_counter() - t0) * 1000
            rows.append(_scored("lsp", text, ms, task.middle))
            for uri in uris:
                client.close(uri)
    finally:
        await client.stop()
    return rows


def run_lsp(
    tasks: list[RepoTask], projects: dict[str, dict[str, str]], options: dict | None = None
) -> list[dict]:
    """``options``: the server's initializationOptions (None: its defaults)."""
    rows: list[dict] = [{} for _ in tasks]
    groups = sessions(tasks)
    for n, idx in enumerate(groups, 1):
        session = [tasks[i] for i in idx]
        project = session[0].project
        print(f"lsp session {n}/{len(groups)}: {project}, {len(idx)} tasks", file=sys.stderr)
        with tempfile.TemporaryDirectory(prefix="repobench-") as tmp:
            root = _workspace(project, session, Path(tmp))
            found = asyncio.run(_session(root, session, projects[project], options))
        for i, row in zip(idx, found, strict=True):
            rows[i] = row
    return rows


# -- report ----------------------------------------------------------------------


def table(results: list[dict], modes: list[str]) -> list[str]:
    lines = [
        f"{'mode':8s} {'split':8s} {'kind':8s} {'tasks':>5s} {'EM':>6s} {'ES':>6s} "
        f"{'p50 ms':>7s} {'p95 ms':>7s}"
    ]
    splits = sorted({r["split"] for r in results}, key=("tune", "heldout").index)
    kinds = [k for k in KINDS if any(r["kind"] == k for r in results)]
    for mode in modes:
        for split in splits:
            for kind in [*kinds, "all"]:
                rows = [r for r in results if r["split"] == split and kind in ("all", r["kind"])]
                s = summarize(rows, mode)
                if s["tasks"]:
                    lines.append(
                        f"{mode:8s} {split:8s} {kind:8s} {s['tasks']:5d} "
                        f"{s['exact_match']:6.3f} {s['edit_similarity']:6.3f} "
                        f"{s['p50_ms']:7.0f} {s['p95_ms']:7.0f}"
                    )
    return lines


def summary(results: list[dict], modes: list[str]) -> dict:
    out: dict = {}
    for mode in modes:
        for split in {r["split"] for r in results}:
            for kind in [*KINDS, "all"]:
                rows = [r for r in results if r["split"] == split and kind in ("all", r["kind"])]
                s = summarize(rows, mode)
                if s["tasks"]:
                    out[f"{mode}/{split}/{kind}"] = s
    return out


def summary_rows(report: dict) -> list[str]:
    """A markdown table of a report's summary, for bench/run_all.py."""
    lines = [
        f"Repository-level completion ({', '.join(report['projects'])}; "
        f"{report['limit'] or 'all'} tasks per kind):",
        "",
        "| mode | split | kind | tasks | exact match | edit similarity | p50 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, s in report["summary"].items():
        mode, split, kind = key.split("/")
        lines.append(
            f"| {mode} | {split} | {kind} | {s['tasks']} | {s['exact_match']:.3f} | "
            f"{s['edit_similarity']:.3f} | {s['p50_ms']:.0f} |"
        )
    return lines


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=[*KINDS, "all"], default="all")
    parser.add_argument("--split", choices=["tune", "heldout", "all"], default="tune")
    parser.add_argument("--limit", type=int, default=0, help="tasks per kind (0: all)")
    parser.add_argument("--per-kind", type=int, default=50, help="tasks per kind per project")
    parser.add_argument("--skip-raw", action="store_true")
    parser.add_argument("--skip-lsp", action="store_true")
    parser.add_argument(
        "--lsp-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a server setting for the run (dotted key, JSON value), e.g. "
        "completion.time_budget_ms=30000 on a busy machine",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="CPU threads of the raw model and the server (engine.n_threads; 0: auto)",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/out/repobench.json"))
    return parser


def main() -> int:
    args = _parser().parse_args()
    options = lsp_options(args.lsp_option)
    if args.threads:
        options = {"engine.n_threads": args.threads, **(options or {})}
    from bench import model_path as default_model_path

    kinds = KINDS if args.kind == "all" else (args.kind,)
    projects = load(args.split)
    tasks = select(projects, kinds, args.per_kind, args.limit)
    print(f"{len(tasks)} tasks ({args.split}: {', '.join(projects)})", file=sys.stderr)
    started = time.time()
    results = [
        {
            "task_id": t.task_id,
            "project": t.project,
            "split": t.split,
            "kind": t.kind,
            "others": list(t.others),
            "middle": t.middle,
        }
        for t in tasks
    ]
    modes = []
    if not args.skip_raw:
        raw = run_raw(tasks, str(default_model_path()), args.threads)
        for row, extra in zip(results, raw, strict=True):
            row.update(extra)
        modes += ["raw"] + (["raw+cut"] if "block" in kinds else [])
    if not args.skip_lsp:
        for row, extra in zip(results, run_lsp(tasks, projects, options), strict=True):
            row.update(extra)
        modes.append("lsp")
    lines = table(results, modes)
    print("\n".join(lines))
    report = {
        "split": args.split,
        "kinds": list(kinds),
        "limit": args.limit,
        "per_kind": args.per_kind,
        "model": str(default_model_path()),
        "lsp_options": options,
        "projects": [p.pin for p in PROJECTS if p.name in projects],
        "seconds": time.time() - started,
        "summary": summary(results, modes),
        "table": lines,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
