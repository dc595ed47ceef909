"""First suggestion in a freshly opened file: asked at once, and asked after a pause.

Real files from the standard library (the same on every machine). Each is opened in
the real server over stdio with the user typing on line ``LINE`` (cut in half); an
inline completion is asked there. Three passes, one server each, files in the same
order (the engine's cache holds the previous file, never this one):

1. ``at_once``: asked right after didOpen;
2. ``after_pause``: asked ``--delay`` seconds after didOpen (warm-ups on);
3. ``after_pause_no_warm``: the same with ``completion.warm = false``.

Then the raw model (``Llama.create_completion``, fresh cache for each file) on a
60-line window around the same cursor (45 lines before, 15 after, the same FIM
template), generating as many tokens as the server generated for that file.

Reported: p50 / p95 of each pass and of the raw model, with the tokens evaluated.
Usage: python -m bench.coldopen [--limit N] [--delay S] [--out bench/out/coldopen.json]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

from bench.lspclient import BenchClient

LINE = 40
MODULES = [
    "textwrap",
    "string",
    "shlex",
    "glob",
    "fnmatch",
    "csv",
    "json.decoder",
    "json.encoder",
    "base64",
    "bisect",
    "calendar",
    "colorsys",
    "copy",
    "difflib",
    "dis",
    "filecmp",
    "fractions",
    "ftplib",
    "getopt",
    "gettext",
    "heapq",
    "hmac",
    "ipaddress",
    "keyword",
    "linecache",
]


def opened_mid_line(name: str) -> tuple[str, int, int] | None:
    """(text, cursor line, cursor character): the module with line LINE (or the next
    line with code) cut in half, as while the user types it."""
    path = importlib.import_module(name).__file__
    if not path or not path.endswith(".py"):
        return None
    lines = Path(path).read_text().splitlines(keepends=True)
    line = LINE
    while line < len(lines) and len(lines[line].strip()) < 8:
        line += 1
    if line >= len(lines):
        return None
    code = lines[line].rstrip()
    head = code[: len(code) // 2]
    lines[line] = head + "\n"
    return "".join(lines), line, len(head)


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))] if v else float("nan")


async def one_pass(files: list, delay: float, init: dict | None, tag: str) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFECODER_CONFIG")}
    client = BenchClient(init_options=init, env=env)
    await client.start()
    out = []
    try:
        while (await client.stats())["engine_state"] == "loading":
            await asyncio.sleep(0.1)
        for name, (text, line, col) in files:
            uri = f"file:///bench/{tag}/{name.replace('.', '/')}.py"
            client.open(uri, text)
            if delay:
                await asyncio.sleep(delay)
            t0 = time.perf_counter()
            await client.inline(uri, line, col, invoked=True)
            ms = (time.perf_counter() - t0) * 1000
            last = (await client.stats())["last_engine"]
            out.append({"file": name, "ms": ms, **last})
            client.close(uri)
            print(f"{tag} {name}: {ms:.0f} ms {last}", file=sys.stderr)
    finally:
        await client.stop()
    return out


def raw_window(files: list, generated: list[int]) -> list[dict]:
    import llama_cpp

    from bench import model_path as default_model_path
    from engine.fim import QWEN
    from engine.llama_model import default_threads

    n = default_threads()
    llm = llama_cpp.Llama(
        str(default_model_path()), n_ctx=4096, n_threads=n, n_threads_batch=n, verbose=False
    )
    out = []
    for (name, (text, line, col)), gen in zip(files, generated, strict=True):
        lines = text.splitlines(keepends=True)
        before = "".join(lines[max(0, line - 45) : line])
        after = lines[line][col:] + "".join(lines[line + 1 : line + 16])
        prompt = QWEN.build(before, after, lines[line][:col])
        llm.reset()
        t0 = time.perf_counter()
        llm.create_completion(
            prompt, max_tokens=max(1, gen), temperature=0.0, top_k=1, stop=list(QWEN.stop_words)
        )
        ms = (time.perf_counter() - t0) * 1000
        out.append({"file": name, "ms": ms, "prompt_tokens": len(llm.tokenize(prompt.encode()))})
    llm.close()
    return out


def summary(rows: list[dict]) -> dict:
    ms = [r["ms"] for r in rows]
    ev = [r.get("evaluated_tokens", r.get("prompt_tokens", 0)) for r in rows]
    return {
        "p50_ms": statistics.median(ms),
        "p95_ms": pct(ms, 0.95),
        "evaluated_tokens_p50": statistics.median(ev),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--delay", type=float, default=2.0)
    parser.add_argument("--out", default="bench/out/coldopen.json")
    parser.add_argument("--no-at-once", action="store_true", help="skip the at-once pass")
    args = parser.parse_args()
    files = []
    for name in MODULES:
        found = opened_mid_line(name)
        if found is not None:
            files.append((name, found))
        if len(files) == args.limit:
            break
    passes = {}
    if not args.no_at_once:
        passes["at_once"] = asyncio.run(one_pass(files, 0.0, None, "now"))
    passes["after_pause"] = asyncio.run(one_pass(files, args.delay, None, "pause"))
    passes["after_pause_no_warm"] = asyncio.run(
        one_pass(files, args.delay, {"completion": {"warm": False}}, "nowarm")
    )
    generated = [r["generated_tokens"] for r in passes["after_pause_no_warm"]]
    passes["raw_60_lines"] = raw_window(files, generated)
    report = {"files": len(files), "delay_s": args.delay}
    report.update({name: summary(rows) for name, rows in passes.items()})
    for k, v in report.items():
        print(f"{k}: {v}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"summary": report, "rows": passes}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
