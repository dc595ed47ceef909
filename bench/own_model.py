"""Your own model, end to end, by the CLI alone, on a real project as the customer's code.

The "customer's code" is the `mcp` package's sources (the Model Context Protocol Python
SDK, 2.3.0 from the package index, MIT): begun in November 2024, after the default
model's training data was collected, not one of the benchmark projects, not this
project. Its ``src/`` folder goes through

1. ``train prepare`` (Python files, held-out split, de-identification, dedup),
2. ``train run`` on the default model, stopped at each ``--curve`` step and evaluated
   there (``train eval`` with held-out exact match and loss, no HumanEval), so the
   learning curve is that of one uninterrupted run (resume is exact),
3. ``train export`` twice: merged and quantized (q4_k_m), and as a GGUF LoRA,
4. ``train eval`` of base, tuned-as-LoRA and merged on the held-out files, with the
   HumanEval single-line forgetting check: one table,
5. a completion through the language server (``safecoder-lsp complete``) from the
   exported model, in a held-out file where the developer stands on an empty line.

Every step resumes or reuses what is already there (checkpoints, the evaluation
cache), so running it again after an interruption goes on. Results:
``<work>/own_model.json`` and the lines for bench/RESULTS.md, printed.
Usage: python -m bench.own_model [--work DIR] [--steps N] [--curve N,N] [--lr LR]
    [--tasks-per-kind N] [--humaneval N] [--loss-tokens N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.repo_projects import Project, fetch
from training.prepare import dataset

SOURCE = Project(
    "mcp", "2.3.0", "8b147a50441cf059dc88c684e0aeed3687f0aa0f39c6cde7b90330effd2b34d8",
    ("src/mcp",),
)
ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str | Path, env: dict[str, str] | None = None) -> str:
    """Run ``safecoder-lsp ARGS`` (its progress shown as it goes); its standard output."""
    cmd = [sys.executable, "-m", "safecoder_lsp.cli", *map(str, args)]
    print("$ safecoder-lsp " + " ".join(map(str, args)), file=sys.stderr, flush=True)
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise SystemExit(f"safecoder-lsp {args[0]} {args[1]} failed ({done.returncode})")
    return done.stdout


def _eval(work: Path, models: list[Path], args: argparse.Namespace, humaneval: int) -> dict:
    out = work / f"eval-{int(time.time())}.json"
    cli("train", "eval", *models, "--dataset", work / "dataset", "--tasks-per-kind",
        str(args.tasks_per_kind), "--humaneval", str(humaneval), "--loss-tokens",
        str(args.loss_tokens), "--out", out)
    return json.loads(out.read_text())


def curve(work: Path, args: argparse.Namespace) -> list[dict]:
    """Train to each curve step and evaluate there (the last step: see ``final``)."""
    points = []
    run = work / "run"
    for step in [*args.curve, args.steps]:
        began = time.perf_counter()
        cli("train", "run", work / "dataset", "--out", run, "--max-steps", str(args.steps),
            "--save-every", "10", "--lr", str(args.lr), "--stop-after", str(step))
        record = json.loads((run / "run.json").read_text())
        point = {"step": step, "train_loss": record["final_loss"],
                 "train_s": round(time.perf_counter() - began)}
        if step != args.steps:
            figures = [r["figures"] for r in _eval(work, [run], args, 0)["results"]]
            point.update(base=figures[0], tuned=figures[1])
        points.append(point)
    return points


def completion(work: Path, model: Path) -> dict:
    """The exported model's suggestion on an empty line of a held-out file, through the
    language server (`safecoder-lsp complete`), the line's original text beside it."""
    from evaluation.repo_tasks import build_tasks

    rows = dataset.read(work / "dataset", "heldout")
    files = {r.path: r.content for r in rows}
    task = build_tasks("mcp", files, ("line",), 1)[0]
    holed = work / "completion" / Path(task.path).name
    holed.parent.mkdir(exist_ok=True)
    indent = task.prefix[task.prefix.rfind("\n") + 1 :]
    holed.write_text(task.prefix + task.suffix)
    out = cli("complete", holed, "--line", str(task.line), "--character", str(len(indent)),
              "--json", env={"SAFECODER_MODEL_PATH": str(model)})
    return {"file": task.path, "line": task.line + 1, "expected": task.middle,
            "suggestion": json.loads(out)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("bench/out/own-model"))
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--curve", type=lambda s: [int(x) for x in s.split(",") if x],
                        default=[20, 40], help="steps to evaluate at on the way (comma list)")
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--tasks-per-kind", type=int, default=50)
    parser.add_argument("--humaneval", type=int, default=200)
    parser.add_argument("--loss-tokens", type=int, default=8192)
    args = parser.parse_args()
    work = args.work.absolute()
    work.mkdir(parents=True, exist_ok=True)
    source = fetch(SOURCE)
    cli("train", "prepare", source, "--out", work / "dataset", "--include", "src/**",
        "--language", "python")
    points = curve(work, args)
    merged = Path(cli("train", "export", work / "run", "--as", "merged", "--out",
                      work / "mcp-tuned-q4_k_m.gguf").strip())
    lora = Path(cli("train", "export", work / "run", "--as", "lora", "--out",
                    work / "mcp-tuned-lora.gguf").strip())
    final = _eval(work, [work / "run", merged], args, args.humaneval)
    result = {"source": SOURCE.pin, "curve": points, "final": final, "lora": str(lora),
              "completion": completion(work, merged)}
    (work / "own_model.json").write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(final["table"]))
    print(json.dumps(result["completion"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
