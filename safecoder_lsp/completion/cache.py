"""Result caches: an LRU keyed by the prompt, and typed-ahead reuse.

- ``ResultCache``: greedy decoding makes a suggestion a function of the prompt and
  the generation settings, so the post-processed text is cached under a hash of
  both. Revisiting a place (undo, cursor back) answers without the engine.
- ``TypedAhead``: when the user types the start of the suggestion that is being
  shown, the rest of it is served at once, with no engine call.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

from safecoder_lsp.documents import Document

# How much text around the cursor must be unchanged for typed-ahead reuse.
GUARD_CHARS = 2000


def cache_key(*parts: object) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        data = repr(part).encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


class ResultCache:
    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, str] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> str | None:
        if self.capacity <= 0:
            return None
        text = self._items.get(key)
        if text is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return text

    def put(self, key: str, text: str) -> None:
        if self.capacity <= 0:
            return
        self._items[key] = text
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class Shown:
    """A suggestion shown at ``offset`` of a document."""

    offset: int
    text: str
    before: str  # the GUARD_CHARS before the cursor when it was shown
    after: str  # the GUARD_CHARS after the cursor when it was shown
    request_id: str


class TypedAhead:
    def __init__(self) -> None:
        self._shown: dict[str, Shown] = {}

    def remember(self, doc: Document, offset: int, text: str, request_id: str) -> None:
        if not text:
            self._shown.pop(doc.uri, None)
            return
        self._shown[doc.uri] = Shown(
            offset=offset,
            text=text,
            before=doc.text[max(0, offset - GUARD_CHARS) : offset],
            after=doc.text[offset : offset + GUARD_CHARS],
            request_id=request_id,
        )

    def forget(self, uri: str) -> None:
        self._shown.pop(uri, None)

    def lookup(self, doc: Document, offset: int) -> Shown | None:
        """The rest of the shown suggestion if the user typed its start, else None."""
        shown = self._shown.get(doc.uri)
        if shown is None or offset <= shown.offset:
            return None
        typed = doc.text[shown.offset : offset]
        if not shown.text.startswith(typed) or len(typed) >= len(shown.text):
            return None
        start = shown.offset - len(shown.before)
        if start < 0 or doc.text[start : shown.offset] != shown.before:
            return None
        if doc.text[offset : offset + len(shown.after)] != shown.after:
            return None
        return Shown(
            offset=offset,
            text=shown.text[len(typed) :],
            before=shown.before,
            after=shown.after,
            request_id=shown.request_id,
        )
