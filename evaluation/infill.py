"""Greedy fill-in-the-middle answers of a GGUF model through llama.cpp, the way the
benchmarks ask the raw engine: the model's own FIM prompt of prefix and suffix,
clipped at whole lines to the server's default budgets, temperature 0. An optional
GGUF LoRA adapter is applied at load (llama.cpp's lora_path)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from engine.fim import FimTemplate, with_stop
from engine.llama_model import default_threads, detect_template, load_llama

PREFIX_TOKENS = 768  # the server's completion.prefix_tokens default
SUFFIX_TOKENS = 192  # completion.suffix_tokens
ONE_LINE_TOKENS, MULTI_LINE_TOKENS = 128, 256


def clip(tokenize: Callable[..., list[int]], text: str, budget: int, keep_end: bool) -> str:
    """Whole lines of ``text`` within ``budget`` tokens: its last lines (``keep_end``;
    the last, partial line always kept) or its first lines."""
    lines = text.split("\n")
    order = reversed(range(len(lines))) if keep_end else range(len(lines))
    kept, used = [], 0
    for i in order:
        cost = len(tokenize(lines[i].encode("utf-8") + b"\n", add_bos=False, special=False))
        if used + cost > budget and kept:
            break
        kept.append(i)
        used += cost
    kept.sort()
    return "\n".join(lines[i] for i in kept)


def open_model(path: Path, lora: Path | None = None, n_ctx: int = 4096, threads: int = 0,
               logits_all: bool = False):
    """A llama_cpp.Llama for ``path`` (with the adapter ``lora`` applied)."""
    threads = threads or default_threads()
    _, llm = load_llama(path, lora, n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
                        logits_all=logits_all)
    return llm


def template_of(llm, path: Path) -> FimTemplate:
    template = detect_template(llm, dict(llm.metadata), path)
    if template is None:
        raise ValueError(f"{path.name} has no fill-in-the-middle tokens that we know")
    return template


def answer(llm, template: FimTemplate, prefix: str, suffix: str, one_line: bool
           ) -> tuple[str, float]:
    """(the greedy middle, milliseconds): one line, or up to the end of infill."""
    prefix = clip(llm.tokenize, prefix, PREFIX_TOKENS, keep_end=True)
    suffix = clip(llm.tokenize, suffix, SUFFIX_TOKENS, keep_end=False)
    stops = list(with_stop(template, ("\n",)).stop_words if one_line else template.stop_words)
    began = time.perf_counter()
    res = llm.create_completion(
        template.build(prefix, suffix), max_tokens=ONE_LINE_TOKENS if one_line else
        MULTI_LINE_TOKENS, temperature=0.0, top_k=1, stop=stops,
    )
    return res["choices"][0]["text"], (time.perf_counter() - began) * 1000
