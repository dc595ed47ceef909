"""Keystroke-to-suggestion latency over a replayed typing session.

A real function (``textwrap.indent`` and ``textwrap.dedent`` from the standard
library, so every machine has the same file) is removed from its file and typed
back one character at a time. After each keystroke the editor sends didChange and
an automatic inline-completion request; the time to the response is recorded.

Three replays of the same keystrokes, one after the other in one run:
1. in-process pipeline (``CompletionService``): records each keystroke's prompt,
   where its answer came from (engine / cache / typed-ahead / skipped) and how many
   tokens the engine generated;
2. the real server over stdio (what an editor sees);
3. direct llama.cpp (``Llama.create_completion``) on the same prompts, greedy,
   generating the same number of tokens, for every keystroke whose answer came
   from the engine.

Reported: LSP p50/p95 over all keystrokes; on keystrokes answered by the engine,
LSP vs direct p50/p95 and their ratio; typed-ahead hits through the LSP.
Usage: python -m bench.latency [--chars N] [--out bench/out/latency.json]
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import statistics
import sys
import textwrap
import time
from pathlib import Path

from bench.lspclient import BenchClient


def typing_session(limit: int) -> tuple[str, int, str]:
    """(document without the typed text, offset where typing happens, text to type)."""
    source = Path(textwrap.__file__).read_text()
    target = inspect.getsource(textwrap.dedent)
    start = source.index(target)
    # Type the body (the signature line is left in place, as when writing a new function).
    sig_end = target.index("\n") + 1
    body = target[sig_end:]
    offset = start + sig_end
    # The whole body goes; with a limit only its first characters are typed back (the
    # rest must not stay after the cursor, or every keystroke is inside a word).
    typed = body[:limit] if limit else body
    return source[:offset] + source[offset + len(body) :], offset, typed


def line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset)
    col = offset - (text.rfind("\n", 0, offset) + 1)
    return line, col


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))] if v else float("nan")


async def replay_inprocess(doc_text: str, offset: int, typed: str) -> list[dict]:
    from safecoder_lsp.config import load_config
    from safecoder_lsp.documents import Document
    from safecoder_lsp.runtime import build_service

    # The engine and model settings of the environment, as the server under test reads
    # them (SAFECODER_ENGINE_N_GPU_LAYERS on a GPU machine, SAFECODER_MODEL_PATH for the
    # larger model); no user file on either side.
    prefixes = ("SAFECODER_ENGINE_", "SAFECODER_MODEL_")
    env = {k: v for k, v in os.environ.items() if k.startswith(prefixes)}
    cfg = load_config(user_file=None, env=env).config
    service = build_service(cfg)
    doc = Document("file:///bench/textwrap.py", doc_text, 1, "python")
    out = []
    try:
        text = doc_text
        for i, ch in enumerate(typed):
            pos = offset + i
            text = text[:pos] + ch + text[pos:]
            doc.set_text(text)
            t0 = time.perf_counter()
            res = await service.complete(doc, pos + 1)
            ms = (time.perf_counter() - t0) * 1000
            st = res.stats
            out.append(
                {
                    "source": res.source,
                    "prompt": res.prompt,
                    "text": res.text,
                    "generated": st.generated_tokens if st else 0,
                    "max_tokens": (
                        cfg.completion.single_line_max_tokens
                        if res.mode == "single"
                        else cfg.completion.max_tokens
                    ),
                    "ms": ms,
                    "queue_ms": st.queue_s * 1000 if st else 0.0,
                    "prompt_eval_ms": st.prompt_eval_s * 1000 if st else 0.0,
                    "evaluated": st.evaluated_tokens if st else 0,
                    "generation_ms": st.generation_s * 1000 if st else 0.0,
                }
            )
    finally:
        service.worker.close()
    return out


async def replay_lsp(doc_text: str, offset: int, typed: str) -> list[dict]:
    client = BenchClient(init_options=None)
    await client.start()
    uri = "file:///bench/textwrap.py"
    client.open(uri, doc_text)
    text = doc_text
    out = []
    try:
        await client.inline(uri, *line_col(text, offset))  # warm-up: model load
        for i, ch in enumerate(typed):
            pos = offset + i
            line, col = line_col(text, pos)
            text = text[:pos] + ch + text[pos:]
            client.insert(uri, line, col, ch)
            t0 = time.perf_counter()
            suggestion = await client.inline(uri, *line_col(text, pos + 1))
            out.append({"ms": (time.perf_counter() - t0) * 1000, "text": suggestion})
        stats = await client.stats()
    finally:
        await client.stop()
    out.append({"stats": stats})
    return out


def replay_direct(records: list[dict], stops: list[str]) -> list[float | None]:
    import llama_cpp

    from bench import model_path as default_model_path
    from engine.llama_model import default_threads

    n = default_threads()
    # The same offload as the server under test (SAFECODER_ENGINE_N_GPU_LAYERS).
    gpu_layers = int(os.environ.get("SAFECODER_ENGINE_N_GPU_LAYERS", "0") or 0)
    llm = llama_cpp.Llama(
        str(default_model_path()),
        n_ctx=4096,
        n_threads=n,
        n_threads_batch=n,
        n_gpu_layers=gpu_layers,
        verbose=False,
    )
    out: list[float | None] = []
    for rec in records:
        if rec["source"] != "engine":
            out.append(None)
            continue
        t0 = time.perf_counter()
        llm.create_completion(
            rec["prompt"],
            max_tokens=max(1, rec["generated"]),
            temperature=0.0,
            top_k=1,
            stop=stops,
        )
        out.append((time.perf_counter() - t0) * 1000)
    llm.close()
    return out


BREAKDOWN = ("queue_ms", "prompt_eval_ms", "evaluated", "generation_ms", "generated", "other_ms")


def breakdown(records: list[dict]) -> dict:
    """Where the time of engine keystrokes goes: p50 / p95 of each part, and the mean
    of each part over the slowest 5% (the p95 tail). ``other_ms``: what is left of
    the keystroke's time (context, prompt, debounce wait, post-processing)."""
    rows = [r for r in records if r["source"] == "engine"]
    for r in rows:
        engine_ms = r["queue_ms"] + r["prompt_eval_ms"] + r["generation_ms"]
        r["other_ms"] = max(0.0, r["ms"] - engine_ms)
    if not rows:
        return {}
    tail = sorted(rows, key=lambda r: r["ms"])[int(0.95 * (len(rows) - 1)) :]
    out: dict = {"engine_keystrokes": len(rows), "tail_keystrokes": len(tail)}
    for k in ("ms", *BREAKDOWN):
        values = [float(r[k]) for r in rows]
        out[f"{k}_p50"] = statistics.median(values)
        out[f"{k}_p95"] = pct(values, 0.95)
        out[f"{k}_tail_mean"] = statistics.fmean(float(r[k]) for r in tail)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chars", type=int, default=0, help="type only the first N characters")
    parser.add_argument("--out", default="bench/out/latency.json")
    parser.add_argument(
        "--breakdown-only",
        action="store_true",
        help="only the in-process replay, with where each engine keystroke's time went",
    )
    args = parser.parse_args()
    from engine.fim import QWEN

    doc_text, offset, typed = typing_session(args.chars)
    print(f"typing {len(typed)} characters", file=sys.stderr)
    inproc = asyncio.run(replay_inprocess(doc_text, offset, typed))
    parts = breakdown(inproc)
    if args.breakdown_only:
        for k, v in parts.items():
            print(f"{k}: {v:.1f}" if isinstance(v, float) else f"{k}: {v}")
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"breakdown": parts}, indent=1))
        return 0
    lsp = asyncio.run(replay_lsp(doc_text, offset, typed))
    server_stats = lsp.pop()["stats"]
    direct = replay_direct(inproc, list(QWEN.stop_words))

    all_lsp = [r["ms"] for r in lsp]
    engine_idx = [i for i, r in enumerate(inproc) if r["source"] == "engine"]
    if not engine_idx:
        sources = sorted({r["source"] for r in inproc})
        raise SystemExit(f"no keystroke was answered by the engine in-process (sources: {sources})")
    lsp_engine = [lsp[i]["ms"] for i in engine_idx]
    direct_engine = [direct[i] for i in engine_idx if direct[i] is not None]
    typed_ahead = [lsp[i]["ms"] for i, r in enumerate(inproc) if r["source"] == "typed_ahead"]
    same = sum(lsp[i]["text"] == inproc[i]["text"] for i in range(len(lsp)))
    sources: dict[str, int] = {}
    for r in inproc:
        sources[r["source"]] = sources.get(r["source"], 0) + 1
    report = {
        "keystrokes": len(typed),
        "sources": sources,
        "lsp_all_p50_ms": statistics.median(all_lsp),
        "lsp_all_p95_ms": pct(all_lsp, 0.95),
        "engine_keystrokes": len(engine_idx),
        "lsp_engine_p50_ms": statistics.median(lsp_engine),
        "lsp_engine_p95_ms": pct(lsp_engine, 0.95),
        "direct_p50_ms": statistics.median(direct_engine),
        "direct_p95_ms": pct(direct_engine, 0.95),
        "ratio_p50": statistics.median(lsp_engine) / statistics.median(direct_engine),
        "ratio_p95": pct(lsp_engine, 0.95) / pct(direct_engine, 0.95),
        "typed_ahead_hits": len(typed_ahead),
        "typed_ahead_p50_ms": statistics.median(typed_ahead) if typed_ahead else None,
        "typed_ahead_p95_ms": pct(typed_ahead, 0.95) if typed_ahead else None,
        "typed_ahead_max_ms": max(typed_ahead) if typed_ahead else None,
        "typed_ahead_over_5ms": sum(ms > 5 for ms in typed_ahead),
        "lsp_matches_inprocess": same / len(lsp),
        "server_stats": server_stats,
        "breakdown": parts,
    }
    for k, v in report.items():
        print(f"{k}: {v:.2f}" if isinstance(v, float) else f"{k}: {v}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
