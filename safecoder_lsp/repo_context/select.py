"""Choosing snippets: definitions of names used near the cursor, then the chunks most
similar to the code before it (Jaccard over identifiers), within a token budget."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from safecoder_lsp.repo_context.chunks import Chunk
from safecoder_lsp.repo_context.definitions import Definition
from safecoder_lsp.repo_context.tokens import jaccard

MIN_SCORE = 0.05  # a chunk less similar than this is not worth its tokens
RING_BONUS = MIN_SCORE  # chunks used or edited recently are preferred (and so stay)
DEFINITION_SHARE = 0.5  # of the budget definitions may take
MIN_CUT_LINES = 8  # a chunk cut to fit keeps at least this many lines
DUPLICATE = 0.9
HEADER_TOKENS = 3  # a snippet's header besides its path (file separator, line break)


@dataclass(frozen=True)
class Snippet:
    path: str
    text: str  # whole lines, ending with a line break
    kind: str  # chunk | definition
    line: int = 0  # where it starts in its file (0-based)
    score: float = 0.0


@dataclass(frozen=True)
class Query:
    tokens: frozenset[str]  # identifiers of the lines before the cursor
    names: tuple[str, ...]  # identifiers near the cursor, nearest first
    own_names: frozenset[str]  # names the current file defines itself


def pick_definitions(
    query: Query,
    index: Mapping[str, Definition],
    count: Callable[[str], int],
    budget: int,
    most: int,
) -> list[Snippet]:
    out: list[Snippet] = []
    used = 0
    for name in query.names:
        if len(out) >= most:
            break
        d = index.get(name)
        if d is None or name in query.own_names:
            continue
        n = count(d.text) + header_cost(d.path, count)
        if used + n > budget:
            continue
        used += n
        out.append(Snippet(d.path, d.text, "definition", d.line, 1.0))
    return out


def header_cost(path: str, count: Callable[[str], int]) -> int:
    """Tokens the layout adds for one snippet of ``path``."""
    return count(path) + HEADER_TOKENS


def _covers(chunk: Chunk, defs: Iterable[Snippet]) -> bool:
    """Whether ``chunk`` holds one of the chosen definitions (its full form)."""
    end = chunk.start_line + chunk.text.count("\n")
    return any(d.path == chunk.path and chunk.start_line <= d.line < end for d in defs)


def _fit(text: str, count: Callable[[str], int], room: int) -> str | None:
    """``text`` cut to whole lines that fit ``room`` tokens (None: too few fit)."""
    if count(text) <= room:
        return text
    kept: list[str] = []
    used = 0
    for line in text.splitlines(keepends=True):
        n = count(line)
        if used + n > room:
            break
        kept.append(line)
        used += n
    return "".join(kept) if len(kept) >= MIN_CUT_LINES else None


def rank_chunks(
    query: Query, candidates: Iterable[Chunk], recent: frozenset[tuple[str, int, int]]
) -> list[tuple[float, Chunk]]:
    """Candidates at least MIN_SCORE similar, best first (ties: path, line). Chunks
    of the ring (recently opened, edited or used) get a bonus but must share some
    identifiers: unrelated code in the prompt makes a small model's suggestions worse
    (measured: with every open file's start in the prompt, the 0.5B model completed
    ``push`` with ``pop`` and ``add(a, b)`` with ``3``)."""
    scored = []
    for c in candidates:
        score = jaccard(query.tokens, c.tokens)
        if score <= 0:
            continue
        score += RING_BONUS if c.key in recent else 0.0
        if score >= MIN_SCORE:
            scored.append((score, c))
    scored.sort(key=lambda sc: (-sc[0], sc[1].path, sc[1].start_line))
    return scored


def select(
    query: Query,
    candidates: Iterable[Chunk],
    index: Mapping[str, Definition],
    count: Callable[[str], int],
    budget: int,
    most: int,
    recent: frozenset[tuple[str, int, int]] = frozenset(),
) -> tuple[list[Snippet], list[Chunk]]:
    """The snippets for a prompt (chunks, then definitions, each in file order) and
    the chunks chosen among them."""
    if budget <= 0 or most <= 0:
        return [], []
    defs = pick_definitions(query, index, count, int(budget * DEFINITION_SHARE), most)
    used = sum(count(d.text) + header_cost(d.path, count) for d in defs)
    chunks: list[Snippet] = []
    chosen: list[Chunk] = []
    for score, c in rank_chunks(query, candidates, recent):
        if len(defs) + len(chunks) >= most or budget - used < MIN_CUT_LINES:
            break
        if _covers(c, defs) or any(jaccard(c.lines, k.lines) > DUPLICATE for k in chosen):
            continue
        header = header_cost(c.path, count)
        text = _fit(c.text, count, budget - used - header)
        if text is None:
            continue
        used += count(text) + header
        chosen.append(c)
        chunks.append(Snippet(c.path, text, "chunk", c.start_line, score))
    # In file order, not score order: the same choice gives the same text even when
    # the scores move as the user types. Definitions go last, next to the current file.
    return sorted(chunks, key=_place) + sorted(defs, key=_place), chosen


def _place(s: Snippet) -> tuple[str, int]:
    return (s.path, s.line)
