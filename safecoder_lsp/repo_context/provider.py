"""The repository context of one request, kept per document as a snapshot.

A snapshot (the snippets chosen and their layout) is reused while the cursor stays
on its line, and while it moves less than ``REGION_LINES`` lines within
``REFRESH_S`` seconds: consecutive keystrokes then get a byte-identical block, which
comes first in the prompt, so the engine's KV cache keeps it. On a nearby line the
snippets are chosen again only in a pause in the typing (no request for ``PAUSE_S``):
a new block costs re-evaluating it (seconds for 600 tokens on a laptop CPU), which
the user should not wait for between keystrokes; the warm-up after a pause (see
completion/warm.py) evaluates it before the next request. A refresh that picks
the same snippets keeps the same text too. New workspace files (the background read
went on) are a reason to choose again at the next request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from engine.fim import FimTemplate
from safecoder_lsp.repo_context.chunks import Chunk, around, split
from safecoder_lsp.repo_context.definitions import Definition, definitions
from safecoder_lsp.repo_context.layout import layout
from safecoder_lsp.repo_context.ring import ChunkRing
from safecoder_lsp.repo_context.select import Query, Snippet, header_cost, select
from safecoder_lsp.repo_context.settings import ContextSettings
from safecoder_lsp.repo_context.tokens import all_identifiers, identifiers
from safecoder_lsp.repo_context.workspace import MAX_FILE_BYTES, WorkspaceFiles

REFRESH_S = 3.0  # a snapshot is kept at least this long while the cursor is near
REGION_LINES = 16  # a move farther than this refreshes at once
PAUSE_S = 0.5  # a nearby line refreshes only after this long without a request
QUERY_LINES = 20  # lines before the cursor that the similarity looks at
AFTER_LINES = 3  # lines after the cursor whose names are looked up too
RECENT_EDITS = 3  # other documents whose last edit enters the ring on a refresh


@dataclass(frozen=True)
class OpenDocument:
    uri: str
    language: str
    text: str
    edited_line: int | None = None  # where it was last edited


@dataclass(frozen=True)
class Cursor:
    uri: str
    language: str
    line: int
    before: str  # the text before the cursor (the last QUERY_LINES lines are used)
    after: str = ""  # the text after it


@dataclass(frozen=True)
class Snippets:
    block: str  # laid out for the template; "" when there is none
    files: tuple[tuple[str, str], ...] = ()  # (path, text), for engines that take them apart


EMPTY = Snippets("")


@dataclass
class _Snapshot:
    line: int
    taken: float
    key: tuple  # what the layout depends on besides the snippets
    chosen: tuple[Snippet, ...]
    snippets: Snippets = field(default=EMPTY)
    asked: float = 0.0  # when the last request came


def _tail_lines(text: str, n: int) -> str:
    cut = len(text)
    for _ in range(n):
        cut = text.rfind("\n", 0, cut)
        if cut < 0:
            return text
    return text[cut + 1 :]


def _head_lines(text: str, n: int) -> str:
    return "\n".join(text.split("\n", n)[:n])


class RepoContext:
    """Snippets for a cursor from the open documents and the workspace files."""

    def __init__(
        self,
        settings: ContextSettings,
        open_documents: Callable[[], Sequence[OpenDocument]] = list,
        workspace: WorkspaceFiles | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.open_documents = open_documents
        self.workspace = workspace
        self.ring = ChunkRing()
        self._clock = clock
        self._snapshots: dict[str, _Snapshot] = {}
        self._parsed: dict[str, tuple[int, list[Chunk], list[Definition]]] = {}
        self.refreshes = 0

    def forget(self, uri: str) -> None:
        self._snapshots.pop(uri, None)
        self._parsed.pop(uri, None)

    def _repo_name(self) -> str:
        return self.workspace.name if self.workspace is not None else "workspace"

    def path_of(self, uri: str) -> str:
        if self.workspace is not None:
            return self.workspace.relative(uri)
        return uri.rsplit("/", 1)[-1] or uri

    def snippets(
        self, cursor: Cursor, template: FimTemplate, count: Callable[[str], int], budget: int
    ) -> Snippets:
        """The snippets for ``cursor``: the document's snapshot, refreshed when due."""
        if not self.settings.enabled or budget <= 0 or self.settings.max_snippets <= 0:
            return EMPTY
        now = self._clock()
        # Files read from the workspace since count as a reason to choose again.
        read = self.workspace.version if self.workspace is not None else 0
        look = (template, cursor.language)  # what the layout depends on
        key = (*look, budget, self.settings, read)
        snap = self._snapshots.get(cursor.uri)
        if snap is not None and snap.key == key and not self._due(snap, cursor.line, now):
            snap.asked = now
            return snap.snippets
        chosen = tuple(self._choose(cursor, count, budget))
        files = tuple((s.path, s.text) for s in chosen)
        if snap is not None and snap.key[:2] == look and snap.snippets.files == files:
            snap.line, snap.taken, snap.key = cursor.line, now, key  # the same text
            snap.asked = now
            return snap.snippets
        block = layout(
            template, chosen, self._repo_name(), self.path_of(cursor.uri), cursor.language
        )
        snap = _Snapshot(cursor.line, now, key, chosen, Snippets(block, files), asked=now)
        self._snapshots[cursor.uri] = snap
        return snap.snippets

    def _due(self, snap: _Snapshot, line: int, now: float) -> bool:
        if line == snap.line:
            return False
        if abs(line - snap.line) > REGION_LINES:
            return True
        return now - snap.taken >= REFRESH_S and now - snap.asked >= PAUSE_S

    # -- choosing ------------------------------------------------------------------
    def _choose(self, cursor: Cursor, count: Callable[[str], int], budget: int) -> list[Snippet]:
        self.refreshes += 1
        # Other open documents of the same language (markdown notes or a JSON file
        # say little about Python code).
        docs = [
            d
            for d in self.open_documents()
            if d.uri != cursor.uri and d.language == cursor.language
        ]
        self._note_edits(docs)
        candidates, index = self._candidates(cursor.uri, docs)
        query = self._query(cursor)
        recent = frozenset(c.key for c in self.ring.chunks())
        candidates.extend(c for c in self.ring.chunks() if c.path != self.path_of(cursor.uri))
        # The repository's header and the current file's come out of the budget too.
        budget -= header_cost(self._repo_name(), count) + header_cost(
            self.path_of(cursor.uri), count
        )
        snippets, used = select(
            query, candidates, index, count, budget, self.settings.max_snippets, recent
        )
        for chunk in used:
            self.ring.push(chunk)
        return snippets

    def _query(self, cursor: Cursor) -> Query:
        before = _tail_lines(cursor.before, QUERY_LINES)
        near = before + "\n" + _head_lines(cursor.after, AFTER_LINES)
        names = sorted(all_identifiers(near), key=lambda n: -near.rfind(n))
        own = frozenset(d.name for d in self._parse(cursor.uri, cursor.before + cursor.after)[2])
        return Query(frozenset(identifiers(before)), tuple(names), own)

    def _parse(self, uri: str, text: str) -> tuple[int, list[Chunk], list[Definition]]:
        """The chunks and definitions of an open document (memoized by its text)."""
        h = hash(text)
        got = self._parsed.get(uri)
        if got is None or got[0] != h:
            path = self.path_of(uri)
            if len(text) > MAX_FILE_BYTES:  # as in the workspace: too big to parse in time
                got = (h, [], [])
            else:
                got = (h, split(path, text), definitions(path, text))
            self._parsed[uri] = got
        return got

    def _note_edits(self, docs: Sequence[OpenDocument]) -> None:
        """Chunks around the last edits of the documents most recently edited (their
        start when only opened) enter the ring."""
        for d in docs[:RECENT_EDITS]:
            if len(d.text) > MAX_FILE_BYTES:
                continue
            line = d.edited_line if d.edited_line is not None else 0
            chunk = around(self.path_of(d.uri), d.text, line)
            if chunk is not None and chunk not in self.ring:
                self.ring.push(chunk)

    def _candidates(
        self, uri: str, docs: Sequence[OpenDocument]
    ) -> tuple[list[Chunk], dict[str, Definition]]:
        chunks: list[Chunk] = []
        index: dict[str, Definition] = {}
        open_uris = {uri, *(d.uri for d in docs)}
        if self.workspace is not None:
            for f in self.workspace.files():
                if f.uri in open_uris:
                    continue
                chunks.extend(f.chunks)
                for d in f.definitions:
                    index.setdefault(d.name, d)
        for doc in reversed(docs):  # most recent last: its definitions win
            _, doc_chunks, doc_defs = self._parse(doc.uri, doc.text)
            chunks.extend(doc_chunks)
            index.update((d.name, d) for d in doc_defs)
        return chunks, index
