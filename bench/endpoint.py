"""Shared-endpoint benchmark: our team endpoint vs its peers.

The peers (``--peers``): llama-cpp-python's own server (one KV cache) and llama.cpp's
C++ ``llama-server`` with parallel slots and prompt-cache reuse (``--parallel 16
--cache-reuse 256``, built once by tests/support/llama_server.py, ~9 minutes). All
serve the default model on this machine with the same threads; the same workload
runs against each with 1, 4 and 16 concurrent clients. A client replays
typing through a HumanEval solution: one FIM request per few typed characters
(prefix = the problem and the solution typed so far, suffix = the rest of the
solution after the current line), waiting for each answer before the next (an
editor does not send a keystroke's request before the previous one ended; closed
loop). Reported: requests/s over the whole run and latency p50/p95 per request.

Targets: issue 5, throughput >= 0.9x llama-cpp-python server's at every level and our
p95 with 4 clients <= 3x our single-client p50; issue 14, requests/s >= 1.0x
llama-server's at 1, 4 and 16 clients, p95 no worse.
Answers: every server answers the same prompts greedily; the report counts, per
peer, the requests whose text differs from ours (kernels round differently for
different batch shapes, so a few near ties flip; many would mean a bug).
Usage: python -m bench.endpoint [--requests N] [--levels 1,4,16] [--slots N]
       [--peers llama-cpp-python,llama-server]
Writes bench/out/endpoint.json.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.fim import QWEN

OUT = Path("bench/out")
MAX_TOKENS = 24
TYPED_PER_REQUEST = 6  # characters typed between two requests


def humaneval_problems() -> list[dict]:
    from evaluation.humaneval import problems

    return problems()


def typing_prompts(problem: dict, count: int) -> list[str]:
    """``count`` FIM prompts typing through the problem's canonical solution."""
    head, body = problem["prompt"], problem["canonical_solution"]
    prompts = []
    cut = 0
    while len(prompts) < count:
        cut = min(len(body), cut + TYPED_PER_REQUEST)
        typed = body[:cut]
        line_start = typed.rfind("\n") + 1
        rest = body[cut:]
        after = rest[rest.find("\n") :] if "\n" in rest else "\n"
        prompts.append(QWEN.build(head + typed[:line_start], after, typed[line_start:]))
        if cut == len(body):
            cut = 0  # start over (only for very short solutions)
    return prompts


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(command: list[str], port: int, ready_path: str) -> Iterator[str]:
    log = Path(tempfile.mkdtemp(prefix="bench-endpoint-")) / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{command[:4]} exited:\n{log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url + ready_path, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{command[:4]} did not start") from None
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def complete(port: int, prompt: str) -> tuple[float, str]:
    """One request: (seconds, the answer's text)."""
    body = json.dumps(
        {"prompt": prompt, "max_tokens": MAX_TOKENS, "temperature": 0, "stop": ["\n"]}
    )
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {data[:200]!r}")
        text = json.loads(data)["choices"][0]["text"]
    finally:
        conn.close()
    return time.perf_counter() - started, text


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * q + 0.999) - 1)]


def load(port: int, clients: int, per_client: int, problems: list[dict]) -> dict:
    """``clients`` threads typing at once; each request's latency, and apart from
    them the "warm" ones (a client's first request opens a file nobody sent before:
    its whole prompt is evaluated, which no scheduling can hide)."""
    latencies: list[float] = []
    warm: list[float] = []
    errors: list[str] = []
    answers: dict[str, str] = {}
    lock = threading.Lock()

    def client(index: int) -> None:
        for n, prompt in enumerate(typing_prompts(problems[index % len(problems)], per_client)):
            try:
                took, text = complete(port, prompt)
            except Exception as exc:
                with lock:
                    errors.append(str(exc))
                continue
            with lock:
                latencies.append(took)
                answers[f"{index}/{n}"] = text
                if n > 0:
                    warm.append(took)

    # Warm the server on a prompt nobody else sends (model pages, first allocations).
    complete(port, typing_prompts(problems[-1], 1)[0])
    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - started
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
        "wall_s": round(wall, 2),
        "requests_per_s": round(len(latencies) / wall, 3),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
        "warm_p50_ms": round(statistics.median(warm) * 1000, 1) if warm else None,
        "warm_p95_ms": round(percentile(warm, 0.95) * 1000, 1) if warm else None,
        "answers": answers,
    }


OURS = "safecoder endpoint"


@dataclass(frozen=True)
class Peer:
    """A server ours is compared with: its name in the report, the path that answers
    200 once its model is loaded, and its command line."""

    name: str
    ready_path: str
    command: Callable[[int, argparse.Namespace, Path], list[str]]


def _llama_cpp_python(port: int, args: argparse.Namespace, model: Path) -> list[str]:
    return [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096",
        "--n_threads", str(args.threads), "--n_gpu_layers", str(args.gpu_layers),
    ]  # fmt: skip


def _llama_server(port: int, args: argparse.Namespace, model: Path) -> list[str]:
    tests = str(Path(__file__).resolve().parents[1] / "tests")
    if tests not in sys.path:  # tests/support imports its siblings as ``support.*``
        sys.path.insert(0, tests)
    from support.llama_server import binary

    # 4096 tokens of KV per slot, as ours has (llama-server splits -c across slots).
    return [
        str(binary()), "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
        "--ctx-size", str(4096 * 16), "--parallel", "16", "--cache-reuse", "256",
        "--threads", str(args.threads), "--threads-batch", str(args.threads),
        "--n-gpu-layers", str(args.gpu_layers),
    ]  # fmt: skip


PEERS = {
    "llama-cpp-python": Peer("llama-cpp-python server", "/v1/models", _llama_cpp_python),
    "llama-server": Peer("llama-server (C++, --parallel 16 --cache-reuse 256)", "/health",
                         _llama_server),
}  # fmt: skip


def _ours(port: int, args: argparse.Namespace, model: Path) -> list[str]:
    return [
        sys.executable, "-m", "safecoder_lsp", "endpoint", "serve", "--no-auth",
        "--host", "127.0.0.1", "--port", str(port), "--slots", str(args.slots),
        "--rate-limit", "100000", "--step-tokens", str(args.step_tokens),
        "--weights", args.weights,
    ]  # fmt: skip


def compare(ours: list[dict], theirs: list[dict]) -> dict:
    """Ours against one peer, level by level: requests/s and p95 ratios (ours /
    theirs), and how many answers differ."""
    rows = {}
    for a, b in zip(ours, theirs, strict=True):
        same_keys = a["answers"].keys() & b["answers"].keys()
        rows[str(a["clients"])] = {
            "throughput_ratio": round(a["requests_per_s"] / b["requests_per_s"], 2),
            "p95_ratio": round(a["p95_ms"] / b["p95_ms"], 2),
            "answers_compared": len(same_keys),
            "answers_differ": sum(a["answers"][k] != b["answers"][k] for k in same_keys),
        }
    return rows


def summary_rows(out: dict) -> list[str]:
    """Markdown for RESULTS.md."""
    lines = [
        f"Shared endpoint ({out['requests_per_client']} requests per client, "
        f"max_tokens {out['max_tokens']}, {out['threads']} threads, "
        f"{out.get('gpu_layers', 0)} GPU layers, our slots {out['slots']}, "
        f"our weights {out.get('weights', 'original')}):",
        "",
        "| server | clients | requests/s | p50 ms | p95 ms | warm p50 ms | warm p95 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, rows in out["results"].items():
        for r in rows:
            lines.append(
                f"| {name} | {r['clients']} | {r['requests_per_s']:.2f} | {r['p50_ms']:.0f} | "
                f"{r['p95_ms']:.0f} | {r['warm_p50_ms'] or 0:.0f} | {r['warm_p95_ms'] or 0:.0f} |"
            )
    lines.append("")
    for peer, levels in out["comparisons"].items():
        parts = ", ".join(
            f"{k} clients {v['throughput_ratio']:.2f}x (p95 {v['p95_ratio']:.2f}x, "
            f"{v['answers_differ']}/{v['answers_compared']} answers differ)"
            for k, v in levels.items()
        )
        lines.append(f"- ours / {peer}: {parts}")
    lines.append(
        f"- our p95 with 4 clients / our single-client p50: {out['p95_4_over_p50_1']} "
        f"(warm requests only: {out['warm_p95_4_over_p50_1']}; target <= 3)"
    )
    return lines


def _fairness(ours: list[dict], key95: str, key50: str) -> float | None:
    single = next((r for r in ours if r["clients"] == 1), None)
    four = next((r for r in ours if r["clients"] == 4), None)
    if not single or not four or not four[key95] or not single[key50]:
        return None
    return round(four[key95] / single[key50], 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.endpoint")
    parser.add_argument("--requests", type=int, default=8, help="requests per client")
    parser.add_argument("--levels", default="1,4,16", help="concurrent clients to run")
    parser.add_argument("--slots", type=int, default=16, help="our endpoint's slots")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--gpu-layers", type=int, default=0, help="layers offloaded to a GPU by all servers"
    )
    parser.add_argument(
        "--step-tokens", type=int, default=0, help="our endpoint's --step-tokens (experimental)"
    )
    parser.add_argument(
        "--weights", default="auto", help="our endpoint's --weights (auto, original, 16bit)"
    )
    parser.add_argument(
        "--peers",
        default="llama-cpp-python,llama-server",
        help=f"servers to compare with, comma-separated ({', '.join(PEERS)}; empty: ours only)",
    )
    parser.add_argument("--ours-only", action="store_true", help="the same as --peers ''")
    parser.add_argument("--out", default=str(OUT / "endpoint.json"))
    args = parser.parse_args(argv)
    peers = [] if args.ours_only else [p for p in args.peers.split(",") if p]
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        parser.error(f"unknown peer(s) {', '.join(unknown)}; known: {', '.join(PEERS)}")
    from bench import model_path as default_model_path

    model = default_model_path()
    levels = [int(x) for x in args.levels.split(",")]
    problems = humaneval_problems()[:32]
    os.environ.update(
        {
            "SAFECODER_ENGINE_N_THREADS": str(args.threads),
            "SAFECODER_ENGINE_N_GPU_LAYERS": str(args.gpu_layers),
        }
    )
    servers = [(PEERS[p].name, PEERS[p].ready_path, PEERS[p].command) for p in peers]
    servers.append((OURS, "/v1/models", _ours))
    results: dict[str, list[dict]] = {}
    for name, ready_path, command in servers:
        port = free_port()
        with server(command(port, args, model), port, ready_path):
            results[name] = []
            for clients in levels:
                row = load(port, clients, args.requests, problems)
                shown = {k: v for k, v in row.items() if k != "answers"}
                print(f"{name}: {shown}", file=sys.stderr)
                results[name].append(row)
    ours = results[OURS]
    out = {
        "model": model.name,
        "max_tokens": MAX_TOKENS,
        "requests_per_client": args.requests,
        "slots": args.slots,
        "threads": args.threads,
        "gpu_layers": args.gpu_layers,
        "step_tokens": args.step_tokens,
        "weights": args.weights,
        "results": results,
        "comparisons": {PEERS[p].name: compare(ours, results[PEERS[p].name]) for p in peers},
        "p95_4_over_p50_1": _fairness(ours, "p95_ms", "p50_ms"),
        "warm_p95_4_over_p50_1": _fairness(ours, "warm_p95_ms", "warm_p50_ms"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print("\n".join(summary_rows(out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
