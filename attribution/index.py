"""The attribution index: documents and their fingerprints in SQLite.

- One file, WAL journal: a query running while a build runs sees the index as it
  was before the build's transaction (never half of it).
- ``add_source(name, documents)`` replaces everything earlier added under ``name``
  in one transaction: an interrupted build leaves the previous index intact.
- A document keeps its normalized text (zlib) and where each source line starts in
  it, so a query can extend a shared fingerprint to the exact shared run and report
  its length and the source lines.
- ``query(text)`` finds every run of at least ``min_length`` normalized characters
  (default: the fingerprint guarantee, 150) that ``text`` shares with a document.
"""

from __future__ import annotations

import bisect
import os
import sqlite3
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attribution.fingerprint import K, W, fingerprints, guarantee
from attribution.normalize import MODES, Mode, normalize

SCHEMA_VERSION = "1"
_SQL_CHUNK = 500  # host parameters per IN (...) query


class AttributionError(Exception):
    """A problem with an index or a corpus; ``hint`` says what to do."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


@dataclass(frozen=True)
class SourceDocument:
    """A file to index: where it comes from and its text."""

    repo: str
    path: str
    license: str  # an SPDX expression, or "" when unknown
    text: str


@dataclass(frozen=True)
class Match:
    repo: str
    path: str
    license: str
    start_line: int  # 1-based, in the indexed file
    end_line: int  # inclusive
    start: int  # source offsets in the queried text (end exclusive)
    end: int
    length: int  # shared normalized characters


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, documents INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY, source INTEGER NOT NULL REFERENCES sources(id),
    repo TEXT NOT NULL, path TEXT NOT NULL, license TEXT NOT NULL,
    normalized BLOB NOT NULL, line_starts BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_source ON documents(source);
CREATE TABLE IF NOT EXISTS fingerprints (
    hash INTEGER NOT NULL, doc INTEGER NOT NULL, pos INTEGER NOT NULL,
    PRIMARY KEY (hash, doc, pos)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS fingerprints_doc ON fingerprints(doc);
"""


class Index:
    def __init__(
        self, path: str | os.PathLike[str], *, k: int = K, w: int = W, mode: Mode = "whitespace"
    ) -> None:
        self.path = Path(path)
        if mode not in MODES:
            raise AttributionError(f"unknown normalization mode {mode!r}.", f"Use one of {MODES}.")
        try:
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(_SCHEMA)
            meta = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            raise AttributionError(
                f"{self.path} is not a usable attribution index: {exc}.",
                "Point attribution.index at an index built by `safecoder-lsp attribution "
                "build`, or build it again.",
            ) from exc
        wanted = {"schema": SCHEMA_VERSION, "k": str(k), "w": str(w), "mode": mode}
        if not meta:
            self.db.executemany("INSERT INTO meta VALUES (?, ?)", wanted.items())
            meta = wanted
        elif meta.get("schema") != SCHEMA_VERSION:
            raise AttributionError(
                f"{self.path} has index format {meta.get('schema')!r}; this version reads "
                f"{SCHEMA_VERSION!r}.",
                "Build the index again with this version.",
            )
        self.k, self.w, self.mode = int(meta["k"]), int(meta["w"]), meta["mode"]

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- building -----------------------------------------------------------------
    def add_source(self, name: str, documents: Iterable[SourceDocument]) -> int:
        """Replace what ``name`` held with ``documents``, atomically; their count."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            self._remove(name)
            cur = db.execute(
                "INSERT INTO sources (name, documents, bytes) VALUES (?, 0, 0)", (name,)
            )
            source_id = cur.lastrowid
            count = size = 0
            for doc in documents:
                self._add_document(source_id, doc)
                count += 1
                size += len(doc.text.encode("utf-8", "surrogatepass"))
            db.execute(
                "UPDATE sources SET documents = ?, bytes = ? WHERE id = ?",
                (count, size, source_id),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return count

    def _remove(self, name: str) -> None:
        row = self.db.execute("SELECT id FROM sources WHERE name = ?", (name,)).fetchone()
        if row is None:
            return
        docs = "SELECT id FROM documents WHERE source = ?"
        self.db.execute(f"DELETE FROM fingerprints WHERE doc IN ({docs})", row)
        self.db.execute("DELETE FROM documents WHERE source = ?", row)
        self.db.execute("DELETE FROM sources WHERE id = ?", row)

    def _add_document(self, source_id: int | None, doc: SourceDocument) -> None:
        n = normalize(doc.text, self.mode)  # type: ignore[arg-type]
        line_starts = _line_starts(doc.text, n.starts)
        cur = self.db.execute(
            "INSERT INTO documents (source, repo, path, license, normalized, line_starts) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                source_id,
                doc.repo,
                doc.path,
                doc.license,
                zlib.compress(n.text.encode("utf-8", "surrogatepass"), 6),
                line_starts.astype("<i4").tobytes(),
            ),
        )
        fp = fingerprints(n.text, self.k, self.w)
        hashes = fp.hashes.view(np.int64).tolist()  # SQLite integers are signed
        doc_id = cur.lastrowid
        self.db.executemany(
            "INSERT OR IGNORE INTO fingerprints VALUES (?, ?, ?)",
            zip(hashes, [doc_id] * len(hashes), fp.positions.tolist(), strict=True),
        )

    # -- querying -------------------------------------------------------------------
    def query(self, text: str, min_length: int | None = None) -> list[Match]:
        """Runs of at least ``min_length`` normalized characters ``text`` shares with
        indexed documents, longest first (one per document and place)."""
        min_length = guarantee(self.k, self.w) if min_length is None else min_length
        n = normalize(text, self.mode)  # type: ignore[arg-type]
        fp = fingerprints(n.text, self.k, self.w)
        if not len(fp):
            return []
        mine: dict[int, list[int]] = {}
        for h, p in zip(fp.hashes.view(np.int64).tolist(), fp.positions.tolist(), strict=True):
            mine.setdefault(h, []).append(p)
        keys = list(mine)
        seeds: set[tuple[int, int, int]] = set()  # (doc, diagonal, my position)
        for i in range(0, len(keys), _SQL_CHUNK):
            chunk = keys[i : i + _SQL_CHUNK]
            marks = ",".join("?" * len(chunk))
            for h, doc, pos in self.db.execute(
                f"SELECT hash, doc, pos FROM fingerprints WHERE hash IN ({marks})", chunk
            ):
                for p in mine[h]:
                    seeds.add((doc, pos - p, p))
        return self._verify(n, seeds, min_length)

    def _verify(self, n, seeds: set[tuple[int, int, int]], min_length: int) -> list[Match]:
        docs: dict[int, tuple[str, str, str, str, np.ndarray]] = {}
        found: dict[tuple[int, int], Match] = {}  # (doc, diagonal) -> longest run
        for doc_id, diagonal, p in sorted(seeds):
            if doc_id not in docs:
                row = self.db.execute(
                    "SELECT repo, path, license, normalized, line_starts FROM documents "
                    "WHERE id = ?",
                    (doc_id,),
                ).fetchone()
                if row is None:
                    continue
                repo, path, lic, blob, starts = row
                text = zlib.decompress(blob).decode("utf-8", "surrogatepass")
                docs[doc_id] = (repo, path, lic, text, np.frombuffer(starts, dtype="<i4"))
            repo, path, lic, theirs, line_starts = docs[doc_id]
            q = p + diagonal
            if found.get((doc_id, diagonal)) and _covers(found[(doc_id, diagonal)], n, p):
                continue
            left = _extend_left(n.text, p, theirs, q)
            right = _extend_right(n.text, p, theirs, q)
            a, b = p - left, p + right
            if b - a < min_length:
                continue
            start, end = n.source_span(a, b)
            first = bisect.bisect_right(line_starts, q - left)
            last = bisect.bisect_right(line_starts, q + right - 1)
            match = Match(repo, path, lic, first, last, start, end, b - a)
            best = found.get((doc_id, diagonal))
            if best is None or match.length > best.length:
                found[(doc_id, diagonal)] = match
        return sorted(found.values(), key=lambda m: (-m.length, m.repo, m.path, m.start))

    def stats(self) -> dict[str, int | str]:
        sources, documents, size = self.db.execute(
            "SELECT count(*), coalesce(sum(documents), 0), coalesce(sum(bytes), 0) FROM sources"
        ).fetchone()
        (prints,) = self.db.execute("SELECT count(*) FROM fingerprints").fetchone()
        return {
            "sources": sources,
            "documents": documents,
            "corpus_bytes": size,
            "fingerprints": prints,
            "index_bytes": self.path.stat().st_size,
            "k": self.k,
            "w": self.w,
            "mode": self.mode,
            "guarantee": guarantee(self.k, self.w),
        }


def _line_starts(source: str, starts: np.ndarray) -> np.ndarray:
    """For each source line, the normalized offset of its first normalized character."""
    line_offsets = [0] + [i + 1 for i, c in enumerate(source) if c == "\n"]
    return np.searchsorted(starts, np.asarray(line_offsets, dtype=np.int64)).astype(np.int32)


def _extend_right(a: str, i: int, b: str, j: int, step: int = 64) -> int:
    """How many characters a[i:] and b[j:] have in common at their start."""
    n = 0
    while True:
        x, y = a[i + n : i + n + step], b[j + n : j + n + step]
        if x == y and len(x) == step:
            n += step
            continue
        for cx, cy in zip(x, y, strict=False):
            if cx != cy:
                break
            n += 1
        return n


def _extend_left(a: str, i: int, b: str, j: int, step: int = 64) -> int:
    """How many characters a[:i] and b[:j] have in common at their end."""
    n = 0
    while True:
        size = min(step, i - n, j - n)
        x, y = a[i - n - size : i - n], b[j - n - size : j - n]
        if x == y and size == step:
            n += step
            continue
        for cx, cy in zip(reversed(x), reversed(y), strict=False):
            if cx != cy:
                break
            n += 1
        return n


def _covers(match: Match, n, p: int) -> bool:
    start, end = n.source_span(p, p + 1)
    return match.start <= start and end <= match.end
