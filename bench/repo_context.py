"""Repository context: what it costs per keystroke, and what the engine reuses.

A real file of this repository (``safecoder_lsp/completion/service.py``) is the
current document; this repository is the workspace (read from disk, bounded by
``context.max_files``) and two other modules are open. A line is typed back one
character at a time; for each keystroke the pipeline's prompt is built as the
server builds it (``CompletionService._plan``: the window around the cursor, the
repository context snapshot, the FIM template), with the real tokenizer.

Reported: the workspace read time; prompt-building time per keystroke on a warm
snapshot (p50/p95/max); the time of a refresh (choosing snippets again); the
snippet block's tokens; whether the block stayed byte-identical; and, with
``--generate N``, the engine's reused/evaluated prompt tokens for N keystrokes.
Usage: python -m bench.repo_context [--max-files 500] [--generate 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

from engine.fim import QWEN
from engine.worker import EngineWorker
from safecoder_lsp.completion.service import CompletionService, CompletionSettings
from safecoder_lsp.documents import Document
from safecoder_lsp.repo_context.provider import OpenDocument, RepoContext
from safecoder_lsp.repo_context.settings import ContextSettings
from safecoder_lsp.repo_context.workspace import WorkspaceFiles

ROOT = Path(__file__).resolve().parents[1]
CURRENT = ROOT / "safecoder_lsp" / "completion" / "service.py"
OPEN = ("safecoder_lsp/completion/context.py", "safecoder_lsp/completion/cache.py")
TYPED_LINE = "        ctx = build_context("  # the start of _plan's first statement


def session() -> tuple[str, int, str]:
    """(document without the typed line, offset where typing starts, text to type)."""
    text = CURRENT.read_text()
    at = text.index(TYPED_LINE)
    end = text.index("\n", at)
    typed = text[at:end]
    return text[:at] + text[end:], at, typed


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def run(max_files: int, generate: int) -> dict:
    from bench import model_path as default_model_path
    from engine.llamacpp import LlamaCppEngine

    started = time.perf_counter()
    ws = WorkspaceFiles([ROOT], max_files)
    ws.load()
    read_s = time.perf_counter() - started
    docs = [OpenDocument((ROOT / p).as_uri(), "python", (ROOT / p).read_text()) for p in OPEN]
    worker = EngineWorker(lambda: LlamaCppEngine(default_model_path(), n_ctx=4096))
    settings = CompletionSettings(cache_size=0, debounce_max_ms=0, context_tokens=512)
    service = CompletionService(worker, settings, QWEN)
    service.repo = RepoContext(ContextSettings(max_files=max_files), lambda: docs, ws)
    worker.start()
    worker.wait_ready()
    base, at, typed = session()
    uri = CURRENT.as_uri()
    warm: list[float] = []
    snippets_ms: list[float] = []
    blocks: set[str] = set()
    plans = []
    for i in range(1, len(typed) + 1):
        text = base[:at] + typed[:i] + base[at:]
        doc = Document(uri, text, i, "python")
        t0 = time.perf_counter()
        plan = service._plan(doc, at + i, "single", QWEN, settings)
        elapsed = (time.perf_counter() - t0) * 1000
        if i > 1:
            warm.append(elapsed)
        else:
            first_ms = elapsed
        blocks.add(plan.prompt[: plan.prompt.index(QWEN.prefix)])
        snippets_ms.append(_snippets_ms(service, plan.ctx, settings))
        plans.append((doc, at + i))
    # A refresh: the cursor jumps far away (the snapshot is chosen again).
    far = Document(uri, base, 999, "python")
    t0 = time.perf_counter()
    service._plan(far, 200, "single", QWEN, settings)
    refresh_ms = (time.perf_counter() - t0) * 1000
    block = next(iter(blocks))
    out = {
        "workspace_files": len(ws.files()),
        "workspace_read_s": round(read_s, 2),
        "keystrokes": len(typed),
        "first_plan_ms (snippets chosen)": round(first_ms, 2),
        "warm_plan_ms_p50": round(statistics.median(warm), 3),
        "warm_plan_ms_p95": round(percentile(warm, 0.95), 3),
        "warm_plan_ms_max": round(max(warm), 3),
        "warm_snippets_ms_p50": round(statistics.median(snippets_ms[1:]), 4),
        "refresh_plan_ms": round(refresh_ms, 2),
        "distinct_blocks": len(blocks),
        "block_tokens": worker.engine.count_tokens(block) if worker.engine else None,
        "block_files": [line for line in block.splitlines() if line.startswith("<|file_sep|>")],
    }
    if generate:
        out["engine"] = asyncio.run(_generate(service, plans[-generate:]))
    worker.close()
    return out


def _snippets_ms(service: CompletionService, ctx, settings: CompletionSettings) -> float:
    """The repository-context step alone (the snapshot's lookup), in ms."""
    t0 = time.perf_counter()
    service._snippets(ctx, QWEN, settings)
    return (time.perf_counter() - t0) * 1000


async def _generate(service: CompletionService, plans: list) -> list[dict]:
    rows = []
    for doc, offset in plans:
        service.typed_ahead.forget(doc.uri)  # each keystroke goes to the engine
        res = await service.complete(doc, offset, invoked=True)
        st = res.stats
        if st is not None:
            rows.append(
                {
                    "prompt_tokens": st.prompt_tokens,
                    "reused": st.reused_tokens,
                    "evaluated": st.evaluated_tokens,
                    "latency_ms": round(res.latency_ms),
                }
            )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-files", type=int, default=500)
    p.add_argument("--generate", type=int, default=0, help="keystrokes sent to the engine")
    args = p.parse_args()
    print(json.dumps(run(args.max_files, args.generate), indent=2))


if __name__ == "__main__":
    main()
