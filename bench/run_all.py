"""Run every benchmark in one go and print a summary for bench/RESULTS.md.

Each benchmark runs in its own process, one after the other (they share the CPU),
and writes JSON under bench/out/. The summary names the machine, the model, the
commit and the date, as RESULTS.md requires; it is printed and written to
bench/out/summary.md (bench/out/ is not committed: bench/RESULTS.md is the curated
record, where a run's summary is pasted by hand).
Usage: python -m bench.run_all [--quick] [--chars N]
(--quick: 100 HumanEval tasks, 120 keystrokes, a 1 MB attribution corpus, 12
repository-level tasks of each kind instead of 100; --chars:
keystrokes of the typing replay). The attribution corpus (586 MB of wheels) is fetched
once into ~/.cache/safecoder-lsp/bench-corpus.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

OUT = Path("bench/out")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def commit() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet"], check=False).returncode != 0
        return rev + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run(module: str, *args: str) -> None:
    print(f"== {module} {' '.join(args)}", file=sys.stderr)
    subprocess.run([sys.executable, "-m", module, *args], check=True)


def summary(quick: bool) -> str:
    import llama_cpp

    from bench import model_path as default_model_path

    he = json.loads((OUT / "humaneval_single_line.json").read_text())
    lat = json.loads((OUT / "latency.json").read_text())
    lines = [
        f"### {datetime.date.today().isoformat()} — commit {commit()}",
        "",
        f"- machine: {machine()}",
        f"- model: {default_model_path().name}; llama-cpp-python {llama_cpp.__version__}",
        "",
        f"HumanEval single-line infilling, {he['tasks']} tasks, greedy:",
        "",
        "| | pass@1 | exact match | p50 ms | p95 ms |",
        "|---|---|---|---|---|",
    ]
    for name in ("raw", "lsp"):
        if name in he:
            r = he[name]
            label = "raw llama.cpp" if name == "raw" else "through the LSP"
            lines.append(
                f"| {label} | {r['pass@1']:.3f} | {r['exact_match']:.3f} | "
                f"{r['p50_ms']:.0f} | {r['p95_ms']:.0f} |"
            )
    lines += [
        "",
        f"Typing replay ({lat['keystrokes']} keystrokes; answers by source {lat['sources']}):",
        "",
        f"- all keystrokes through the LSP: p50 {lat['lsp_all_p50_ms']:.1f} ms, "
        f"p95 {lat['lsp_all_p95_ms']:.1f} ms",
        f"- keystrokes answered by the engine ({lat['engine_keystrokes']}): LSP p50 "
        f"{lat['lsp_engine_p50_ms']:.0f} ms vs direct llama.cpp {lat['direct_p50_ms']:.0f} ms "
        f"(ratio {lat['ratio_p50']:.2f}); p95 {lat['lsp_engine_p95_ms']:.0f} vs "
        f"{lat['direct_p95_ms']:.0f} ms (ratio {lat['ratio_p95']:.2f})",
        f"- typed-ahead hits: {lat['typed_ahead_hits']}, p50 "
        f"{lat['typed_ahead_p50_ms'] or 0:.2f} ms, p95 {lat.get('typed_ahead_p95_ms') or 0:.2f} "
        f"ms, max {lat['typed_ahead_max_ms'] or 0:.2f} ms, over 5 ms: "
        f"{lat.get('typed_ahead_over_5ms', '?')}",
    ]
    attribution = OUT / "attribution.json"
    if attribution.exists():
        from bench.attribution import summary_rows

        lines += ["", *summary_rows(json.loads(attribution.read_text()))]
    endpoint = OUT / "endpoint.json"
    if endpoint.exists():
        from bench.endpoint import summary_rows as endpoint_rows

        lines += ["", *endpoint_rows(json.loads(endpoint.read_text()))]
    repobench = OUT / "repobench.json"
    if repobench.exists():
        from bench.repobench import summary_rows as repobench_rows

        lines += ["", *repobench_rows(json.loads(repobench.read_text()))]
    if quick:
        lines.append("- (quick run: a subset)")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--chars", type=int, default=0, help="keystrokes to replay (0: all)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    chars = args.chars or (120 if args.quick else 0)
    run("bench.latency", *(["--chars", str(chars)] if chars else []))
    run("bench.humaneval_infill", *(["--limit", "100"] if args.quick else []))
    run("bench.attribution", *(["--quick"] if args.quick else []))
    run("bench.endpoint", *(["--requests", "6", "--levels", "1,4"] if args.quick else []))
    run("bench.repobench", "--split", "all", "--limit", "12" if args.quick else "100")
    text = summary(args.quick)
    (OUT / "summary.md").write_text(text)
    print(text)
    print(
        f"results: {OUT.resolve()}/*.json; this summary: {(OUT / 'summary.md').resolve()}"
        " (paste it into bench/RESULTS.md to keep it)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
