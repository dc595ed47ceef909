"""The completion service with repository context and the real default model: two
consecutive keystrokes give prompts that agree up to the typed text, so the second
evaluation reuses the snippet block from the KV cache."""

from __future__ import annotations

import asyncio

from engine.worker import EngineWorker
from safecoder_lsp.completion.service import CompletionService, CompletionSettings
from safecoder_lsp.documents import Document
from safecoder_lsp.repo_context.provider import OpenDocument, RepoContext
from safecoder_lsp.repo_context.settings import ContextSettings

HELPERS = (
    "def quantize_sample(sample, *, levels=16, dither=False):\n"
    '    """Round a sample to one of the levels."""\n'
    "    return round(sample * levels) / levels\n"
)
CURRENT = (
    "from helpers import quantize_sample\n\n\ndef encode(samples):\n    return [quantize_sample("
)


def test_two_keystrokes_share_the_snippet_block_and_its_kv_cache(model_path):
    from engine.llamacpp import LlamaCppEngine

    worker = EngineWorker(lambda: LlamaCppEngine(model_path, n_ctx=2048))
    settings = CompletionSettings(cache_size=0, debounce_max_ms=0, context_tokens=512)
    service = CompletionService(worker, settings)
    docs = [OpenDocument("file:///w/helpers.py", "python", HELPERS)]
    service.repo = RepoContext(ContextSettings(), lambda: docs)

    async def run() -> list:
        out = []
        for i, typed in enumerate(("s", "s, ")):
            text = CURRENT + typed + "\n"
            doc = Document("file:///w/cur.py", text, i + 1, "python")
            out.append(await service.complete(doc, len(text) - 1, invoked=True))
        return out

    try:
        first, second = asyncio.run(run())
    finally:
        worker.close()
    block_end = first.prompt.index("<|fim_prefix|>")
    block = first.prompt[:block_end]
    assert "levels=16, dither=False" in block and block.endswith("<|file_sep|>cur.py\n")
    assert second.prompt[:block_end] == block
    assert second.prompt.startswith(first.prompt[: first.prompt.index("<|fim_middle|>")])
    assert second.stats is not None and first.stats is not None
    # Everything up to the typed text came from the cache.
    assert second.stats.reused_tokens >= first.stats.prompt_tokens - 3, second.stats
