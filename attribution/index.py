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
- Building is two steps: ``prepare(doc)`` (normalize, fingerprint, compress: pure, the
  costly part, runs anywhere: a process pool or a Ray cluster, see attribution/shards.py)
  and ``add_prepared`` (SQLite inserts, fingerprints sorted by hash in batches).
- Space: fingerprints have no secondary index (it doubled their size); replacing a
  source therefore scans the fingerprint table once.
"""

from __future__ import annotations

import bisect
import os
import sqlite3
import zlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attribution.fingerprint import K, W, fingerprints, guarantee
from attribution.normalize import MODES, Mode, normalize

SCHEMA_VERSION = "2"
_INSERT_BATCH = 200_000  # fingerprints sorted and inserted together
_BUILD_CACHE_KIB = 256 * 1024  # SQLite page cache while building
_DOC_CACHE = 64  # decompressed documents kept between queries (typing re-queries)
DOCS_PER_LICENSE = 16  # documents looked up per fingerprint and license
LICENSES_PER_HASH = 32
MAX_VERIFIED_DOCS = 64  # documents read to verify a query's matches


class AttributionError(Exception):
    """A problem with an index or a corpus; ``hint`` says what to do."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message, hint)  # both, so it survives pickling (worker processes)
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


@dataclass(frozen=True)
class PreparedDocument:
    """A document ready to insert: what ``prepare`` computes from a SourceDocument."""

    repo: str
    path: str
    license: str
    size: int  # bytes of source (UTF-8)
    normalized: bytes  # zlib of the UTF-8 normalized text
    line_starts: bytes  # little-endian int32 per source line
    hashes: np.ndarray  # int64 (the uint64 hashes as SQLite's signed integers)
    positions: np.ndarray  # int64


def prepare(
    doc: SourceDocument, k: int = K, w: int = W, mode: Mode = "whitespace"
) -> PreparedDocument:
    """Normalize, fingerprint and compress ``doc`` (pure; no index needed)."""
    n = normalize(doc.text, mode)
    fp = fingerprints(n.text, k, w)
    return PreparedDocument(
        doc.repo,
        doc.path,
        doc.license,
        len(doc.text.encode("utf-8", "surrogatepass")),
        zlib.compress(n.text.encode("utf-8", "surrogatepass"), 6),
        _line_starts(doc.text, n.starts).astype("<i4").tobytes(),
        fp.hashes.view(np.int64),
        fp.positions.astype(np.int64),
    )


@dataclass(frozen=True)
class _Doc:
    repo: str
    path: str
    license: str
    text: str  # normalized
    line_starts: np.ndarray


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, documents INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT, source INTEGER NOT NULL REFERENCES sources(id),
    repo TEXT NOT NULL, path TEXT NOT NULL, license TEXT NOT NULL,
    normalized BLOB NOT NULL, line_starts BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_source ON documents(source);
CREATE TABLE IF NOT EXISTS licenses (id INTEGER PRIMARY KEY, expression TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS fingerprints (
    hash INTEGER NOT NULL, lic INTEGER NOT NULL, doc INTEGER NOT NULL, pos INTEGER NOT NULL,
    PRIMARY KEY (hash, lic, doc, pos)
) WITHOUT ROWID;
"""


class Index:
    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        k: int = K,
        w: int = W,
        mode: Mode = "whitespace",
        create: bool = True,
    ) -> None:
        """Open the index at ``path``; a new (empty or missing) file becomes an index
        with ``k``, ``w``, ``mode`` when ``create``, else it is an error."""
        self.path = Path(path)
        if mode not in MODES:
            raise AttributionError(f"unknown normalization mode {mode!r}.", f"Use one of {MODES}.")
        if not create and not self.path.is_file():
            raise AttributionError(
                f"the index {self.path} does not exist.",
                "Build it with `safecoder-lsp attribution build SOURCE... --index PATH`.",
            )
        try:
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master")}
            meta = (
                dict(self.db.execute("SELECT key, value FROM meta").fetchall())
                if "meta" in tables
                else {}
            )
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise AttributionError(
                f"{self.path} is not a usable attribution index: {exc}.",
                "Point attribution.index at an index built by `safecoder-lsp attribution "
                "build`, or build it again.",
            ) from exc
        try:
            meta = self._set_up(meta, tables, create, {"k": str(k), "w": str(w), "mode": mode})
        except BaseException:
            self.db.close()
            raise
        self.k, self.w, self.mode = int(meta["k"]), int(meta["w"]), meta["mode"]
        self._docs: OrderedDict[int, _Doc] = OrderedDict()
        self._license_ids = dict(self.db.execute("SELECT expression, id FROM licenses"))

    def _set_up(
        self, meta: dict[str, str], tables: set[str], create: bool, wanted: dict[str, str]
    ) -> dict[str, str]:
        """Check an existing index, or make a new one; its meta."""
        if not meta and (tables or not create):
            # never write our tables into someone else's database, or create an index
            # where one was only to be read
            raise AttributionError(
                f"{self.path} is not an attribution index"
                + (" (it is another SQLite database)." if tables else " (it is empty)."),
                "Point attribution.index at an index built by `safecoder-lsp attribution "
                "build`, or build one there.",
            )
        if meta and meta.get("schema") != SCHEMA_VERSION:
            raise AttributionError(
                f"{self.path} has index format {meta.get('schema')!r}; this version reads "
                f"{SCHEMA_VERSION!r}.",
                "Build the index again with this version.",
            )
        self.db.execute("PRAGMA journal_mode=WAL")
        if not meta:
            self.db.executescript(_SCHEMA)
            self.db.executemany(
                "INSERT OR IGNORE INTO meta VALUES (?, ?)",
                {"schema": SCHEMA_VERSION, **wanted}.items(),
            )
            meta = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        return meta

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- building -----------------------------------------------------------------
    def add_source(self, name: str, documents: Iterable[SourceDocument]) -> int:
        """Replace what ``name`` held with ``documents``, atomically; their count."""
        k, w, mode = self.k, self.w, self.mode
        return self.add_prepared(name, (prepare(d, k, w, mode) for d in documents))  # type: ignore[arg-type]

    def add_prepared(self, name: str, documents: Iterable[PreparedDocument]) -> int:
        """``add_source`` for documents already prepared with this index's k, w, mode."""
        db = self.db
        db.execute(f"PRAGMA cache_size = -{_BUILD_CACHE_KIB}")
        db.execute("BEGIN IMMEDIATE")
        try:
            self._remove(name)
            cur = db.execute(
                "INSERT INTO sources (name, documents, bytes) VALUES (?, 0, 0)", (name,)
            )
            source_id = cur.lastrowid
            count = size = 0
            pending: list[tuple[np.ndarray, int, int, np.ndarray]] = []
            waiting = 0
            for doc in documents:
                doc_id = self._insert_document(source_id, doc)
                pending.append((doc.hashes, self._license_id(doc.license), doc_id, doc.positions))
                waiting += len(doc.hashes)
                if waiting >= _INSERT_BATCH:
                    self._insert_fingerprints(pending)
                    pending, waiting = [], 0
                count += 1
                size += doc.size
            self._insert_fingerprints(pending)
            db.execute(
                "UPDATE sources SET documents = ?, bytes = ? WHERE id = ?",
                (count, size, source_id),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            db.execute("PRAGMA cache_size = -2000")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the build into the main file
        return count

    def _remove(self, name: str) -> None:
        row = self.db.execute("SELECT id FROM sources WHERE name = ?", (name,)).fetchone()
        if row is None:
            return
        docs = "SELECT id FROM documents WHERE source = ?"
        self.db.execute(f"DELETE FROM fingerprints WHERE doc IN ({docs})", row)
        self.db.execute("DELETE FROM documents WHERE source = ?", row)
        self.db.execute("DELETE FROM sources WHERE id = ?", row)

    def _insert_document(self, source_id: int | None, doc: PreparedDocument) -> int:
        cur = self.db.execute(
            "INSERT INTO documents (source, repo, path, license, normalized, line_starts) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (source_id, doc.repo, doc.path, doc.license, doc.normalized, doc.line_starts),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def _license_id(self, expression: str) -> int:
        found = self._license_ids.get(expression)
        if found is None:
            self.db.execute("INSERT OR IGNORE INTO licenses (expression) VALUES (?)", (expression,))
            (found,) = self.db.execute(
                "SELECT id FROM licenses WHERE expression = ?", (expression,)
            ).fetchone()
            self._license_ids[expression] = found
        return found

    def _insert_fingerprints(self, pending: list[tuple[np.ndarray, int, int, np.ndarray]]) -> None:
        """Insert in key order: B-tree appends instead of random page writes."""
        if not pending:
            return
        hashes = np.concatenate([h for h, _, _, _ in pending])
        lics = np.concatenate([np.full(len(h), lic, dtype=np.int64) for h, lic, _, _ in pending])
        docs = np.concatenate([np.full(len(h), d, dtype=np.int64) for h, _, d, _ in pending])
        positions = np.concatenate([p for _, _, _, p in pending])
        order = np.lexsort((positions, docs, lics, hashes))
        self.db.executemany(
            "INSERT OR IGNORE INTO fingerprints VALUES (?, ?, ?, ?)",
            zip(
                hashes[order].tolist(),
                lics[order].tolist(),
                docs[order].tolist(),
                positions[order].tolist(),
                strict=True,
            ),
        )

    # -- querying -------------------------------------------------------------------
    def query(self, text: str, min_length: int | None = None) -> list[Match]:
        """Runs of at least ``min_length`` normalized characters ``text`` shares with
        indexed documents, longest first (one per document and place).

        Bounded work, every license kept: a fingerprint is looked up in at most
        ``DOCS_PER_LICENSE`` documents of each license it occurs under, and at most
        ``MAX_VERIFIED_DOCS`` documents are read to verify and measure the runs: for each
        license the document sharing the most fingerprints with ``text``, then the
        others by that count. Text shared by thousands of indexed files (generated code,
        vendored copies) is reported against some of them, but under every license."""
        min_length = guarantee(self.k, self.w) if min_length is None else min_length
        n = normalize(text, self.mode)  # type: ignore[arg-type]
        fp = fingerprints(n.text, self.k, self.w)
        if not len(fp):
            return []
        mine: dict[int, list[int]] = {}
        for h, p in zip(fp.hashes.view(np.int64).tolist(), fp.positions.tolist(), strict=True):
            mine.setdefault(h, []).append(p)
        seeds: dict[int, set[tuple[int, int]]] = {}  # doc -> {(diagonal, my position)}
        lic_of: dict[int, int] = {}
        for h, positions in mine.items():
            for lic, doc, pos in self._lookup(h):
                lic_of[doc] = lic
                seeds.setdefault(doc, set()).update((pos - p, p) for p in positions)
        return self._verify(n, {d: seeds[d] for d in _pick(seeds, lic_of)}, min_length)

    def _lookup(self, h: int) -> list[tuple[int, int, int]]:
        """(license, doc, pos) of the documents holding hash ``h``: at most
        ``DOCS_PER_LICENSE`` per license, every license (up to ``LICENSES_PER_HASH``)."""
        rows: list[tuple[int, int, int]] = []
        after = -1
        for _ in range(LICENSES_PER_HASH):
            got = self.db.execute(
                "SELECT lic, doc, pos FROM fingerprints WHERE hash = ? AND lic > ? "
                "ORDER BY lic, doc, pos LIMIT ?",
                (h, after, DOCS_PER_LICENSE),
            ).fetchall()
            rows += got
            if len(got) < DOCS_PER_LICENSE:
                break
            after = got[-1][0]  # the rest of this license's rows are skipped
        return rows

    def _document(self, doc_id: int) -> _Doc | None:
        """A document's fields and normalized text (recently used ones are kept)."""
        doc = self._docs.get(doc_id)
        if doc is not None:
            self._docs.move_to_end(doc_id)
            return doc
        row = self.db.execute(
            "SELECT repo, path, license, normalized, line_starts FROM documents WHERE id = ?",
            (doc_id,),
        ).fetchone()
        if row is None:
            return None
        repo, path, lic, blob, starts = row
        text = zlib.decompress(blob).decode("utf-8", "surrogatepass")
        doc = _Doc(repo, path, lic, text, np.frombuffer(starts, dtype="<i4"))
        self._docs[doc_id] = doc
        if len(self._docs) > _DOC_CACHE:
            self._docs.popitem(last=False)
        return doc

    def _verify(self, n, seeds: dict[int, set[tuple[int, int]]], min_length: int) -> list[Match]:
        found: dict[tuple[int, int], Match] = {}  # (doc, diagonal) -> longest run
        for doc_id, pairs in seeds.items():
            doc = self._document(doc_id)
            if doc is None:  # removed since the lookup (ids are never reused)
                continue
            for diagonal, p in sorted(pairs):
                q = p + diagonal
                best = found.get((doc_id, diagonal))
                if best is not None and _covers(best, n, p):
                    continue
                left = _extend_left(n.text, p, doc.text, q)
                right = _extend_right(n.text, p, doc.text, q)
                a, b = p - left, p + right
                if b - a < min_length:
                    continue
                start, end = n.source_span(a, b)
                first = bisect.bisect_right(doc.line_starts, q - left)
                last = bisect.bisect_right(doc.line_starts, q + right - 1)
                match = Match(doc.repo, doc.path, doc.license, first, last, start, end, b - a)
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
            "index_bytes": sum(
                p.stat().st_size
                for p in (self.path, self.path.with_name(self.path.name + "-wal"))
                if p.exists()
            ),
            "k": self.k,
            "w": self.w,
            "mode": self.mode,
            "guarantee": guarantee(self.k, self.w),
        }


def _pick(seeds: dict[int, set[tuple[int, int]]], lic_of: dict[int, int]) -> list[int]:
    """The documents to verify: the best of each license first, then by seed count."""
    ranked = sorted(seeds, key=lambda d: (-_strength(seeds[d]), d))
    best: dict[int, int] = {}  # license -> its best document, best licenses first
    for d in ranked:
        best.setdefault(lic_of[d], d)
    picked = dict.fromkeys(list(best.values())[:MAX_VERIFIED_DOCS])
    for d in ranked:
        if len(picked) >= MAX_VERIFIED_DOCS:
            break
        picked.setdefault(d)
    return list(picked)


def _strength(pairs: set[tuple[int, int]]) -> int:
    """Most fingerprints a document shares with the query on one diagonal: a long shared
    run holds several, a single shared k-gram one."""
    counts: dict[int, int] = {}
    for diagonal, _ in pairs:
        counts[diagonal] = counts.get(diagonal, 0) + 1
    return max(counts.values())


def _line_starts(source: str, starts: np.ndarray) -> np.ndarray:
    """For each source line, the normalized offset of its first normalized character."""
    codes = np.frombuffer(source.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    line_offsets = np.concatenate(([0], np.flatnonzero(codes == 10) + 1))
    return np.searchsorted(starts, line_offsets).astype(np.int32)


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
