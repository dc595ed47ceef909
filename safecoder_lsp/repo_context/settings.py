"""The repository context's settings, and the budget clamped to the context window."""

from __future__ import annotations

from dataclasses import dataclass

# Tokens kept free besides the prompt's parts (the markers, the file headers).
MARGIN_TOKENS = 64


@dataclass(frozen=True)
class ContextSettings:
    enabled: bool = True
    budget_tokens: int = 512  # for snippets and definitions together
    max_files: int = 500  # workspace files read from disk
    max_snippets: int = 8  # snippets and definitions in one prompt


def clamp_budget(budget: int, n_ctx: int, prefix: int, suffix: int, generated: int) -> int:
    """``budget`` cut so that snippets, the current file's window and the generated
    tokens fit in ``n_ctx`` together (never below 0)."""
    room = n_ctx - prefix - suffix - generated - MARGIN_TOKENS
    return max(0, min(budget, room))
