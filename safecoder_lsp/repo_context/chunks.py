"""Chunks: runs of up to ``CHUNK_LINES`` whole lines of a file, with their tokens."""

from __future__ import annotations

from dataclasses import dataclass, field

from safecoder_lsp.repo_context.tokens import identifiers, line_set

CHUNK_LINES = 64
CHUNK_CHARS = 2000  # a chunk of long lines ends earlier


@dataclass(frozen=True)
class Chunk:
    path: str  # as shown in the prompt (relative to the workspace where it can be)
    start_line: int  # 0-based
    text: str  # whole lines, each ending with its line break
    tokens: frozenset[str] = field(compare=False, repr=False)
    lines: frozenset[str] = field(compare=False, repr=False)

    @staticmethod
    def of(path: str, start_line: int, text: str) -> Chunk:
        body = text.splitlines()
        return Chunk(path, start_line, text, frozenset(identifiers(text)), line_set(body))

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.path, self.start_line, hash(self.text))


def _lines(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += "\n"
    return lines


def split(path: str, text: str, size: int = CHUNK_LINES, chars: int = CHUNK_CHARS) -> list[Chunk]:
    """``text`` cut into consecutive chunks (blank-only chunks are left out)."""
    out: list[Chunk] = []
    lines = _lines(text)
    start = 0
    while start < len(lines):
        end, used = start, 0
        while end < len(lines) and end - start < size and (used < chars or end == start):
            used += len(lines[end])
            end += 1
        body = "".join(lines[start:end])
        if body.strip():
            out.append(Chunk.of(path, start, body[: chars * 2]))
        start = end
    return out


def around(path: str, text: str, line: int, size: int = CHUNK_LINES) -> Chunk | None:
    """The chunk of up to ``size`` lines centred on ``line`` (None: only blanks)."""
    lines = _lines(text)
    if not lines:
        return None
    line = min(max(line, 0), len(lines) - 1)
    start = max(0, min(line - size // 2, len(lines) - size))
    body = "".join(lines[start : start + size])
    if len(body) > CHUNK_CHARS:
        body = "".join(lines[max(start, line - 8) : line + 8])
        start = max(start, line - 8)
    return Chunk.of(path, start, body) if body.strip() else None
