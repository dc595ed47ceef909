"""The ring of recently used chunks."""

from __future__ import annotations

from safecoder_lsp.repo_context.chunks import Chunk
from safecoder_lsp.repo_context.ring import ChunkRing


def chunk(path: str, lines: list[str]) -> Chunk:
    return Chunk.of(path, 0, "".join(line + "\n" for line in lines))


def test_the_oldest_leaves_when_full():
    ring = ChunkRing(size=3)
    chunks = [chunk(f"f{i}.py", [f"unique_{i} = {i}"]) for i in range(5)]
    for c in chunks:
        ring.push(c)
    assert ring.chunks() == chunks[2:]
    assert chunks[4] in ring and chunks[0] not in ring


def test_a_near_duplicate_replaces_the_older_chunk():
    ring = ChunkRing()
    base = [f"line_{i} = {i}" for i in range(20)]
    other = chunk("b.py", ["something_else = 1"])
    ring.push(chunk("a.py", base))
    ring.push(other)
    edited = chunk("a.py", [*base, "line_20 = 20"])  # 20 of 21 lines shared: > 0.9
    ring.push(edited)
    assert ring.chunks() == [other, edited]
    changed = chunk("a.py", base[:10] + [f"new_{i} = {i}" for i in range(10)])  # 1/3 shared
    ring.push(changed)
    assert len(ring) == 3
