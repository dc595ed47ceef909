"""A ring buffer of recently used chunks (llama.vscode's: 16 chunks, near-duplicates
evicted). Chunks around recent edits in other files and chunks chosen for a prompt
enter it; its chunks stay candidates after their files are closed or changed."""

from __future__ import annotations

from collections import deque

from safecoder_lsp.repo_context.chunks import Chunk
from safecoder_lsp.repo_context.tokens import jaccard

RING_SIZE = 16
DUPLICATE = 0.9  # line Jaccard above which a chunk replaces an older one


class ChunkRing:
    def __init__(self, size: int = RING_SIZE, duplicate: float = DUPLICATE) -> None:
        self._chunks: deque[Chunk] = deque()
        self.size = size
        self.duplicate = duplicate

    def push(self, chunk: Chunk) -> None:
        """Add ``chunk`` as the newest: a near-duplicate already held leaves, and
        the oldest leaves when the ring is full."""
        kept = [
            c
            for c in self._chunks
            if c.text != chunk.text and jaccard(c.lines, chunk.lines) <= self.duplicate
        ]
        self._chunks = deque(kept)
        self._chunks.append(chunk)
        while len(self._chunks) > self.size:
            self._chunks.popleft()

    def chunks(self) -> list[Chunk]:
        """Oldest first."""
        return list(self._chunks)

    def __len__(self) -> int:
        return len(self._chunks)

    def __contains__(self, chunk: Chunk) -> bool:
        return any(c.key == chunk.key for c in self._chunks)
