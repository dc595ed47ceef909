"""Held-out loss of a GGUF model through llama.cpp: the mean negative log-likelihood
(nats a token) of texts, each cut into windows of ``window`` tokens evaluated after
the model's BOS token (no window sees another's text), and its perplexity. The
texts and their order decide the tokens measured, so two models compared on the
same texts are measured on the same tokens."""

from __future__ import annotations

import math

import numpy as np

WINDOW = 512


def windows(llm, texts: list[str], window: int, max_tokens: int) -> list[list[int]]:
    """The texts' tokens in windows of at most ``window``, ``max_tokens`` in all."""
    out: list[list[int]] = []
    left = max_tokens
    for text in texts:
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        for i in range(0, len(tokens), window):
            if left <= 1:
                return out
            chunk = tokens[i : i + min(window, left)]
            if len(chunk) > 1:
                out.append(chunk)
                left -= len(chunk)
    return out


def _bos(llm) -> int:
    bos = llm.token_bos()
    return bos if bos >= 0 else llm.token_eos()


def window_nll(llm, chunk: list[int]) -> float:
    """The summed negative log-likelihood of ``chunk``'s tokens after BOS."""
    llm.reset()
    llm.eval([_bos(llm), *chunk])
    logits = np.asarray(llm.scores[: len(chunk)], dtype=np.float64)
    top = logits.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    picked = logits[np.arange(len(chunk)), chunk]
    return float((log_norm - picked).sum())


def heldout_loss(llm, texts: list[str], max_tokens: int, window: int = WINDOW) -> dict:
    """{tokens, loss (nats a token), perplexity}; ``llm`` opened with logits_all and a
    context of at least ``window + 1``."""
    chunks = windows(llm, texts, window, max_tokens)
    total = sum(window_nll(llm, c) for c in chunks)
    count = sum(len(c) for c in chunks)
    loss = total / count if count else float("nan")
    return {"tokens": count, "loss": round(loss, 4), "perplexity": round(math.exp(loss), 3)}
