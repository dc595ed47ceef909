"""Shards: prepared documents of one work unit in a file, merged into an index later.

A shard is a small SQLite file written by whoever fingerprints a unit (a worker
process, a Ray task on another machine) and read once by ``merge``. It holds the
unit's documents already normalized, compressed and fingerprinted, so merging is
only inserts. A shard is written under a temporary name and renamed when complete:
a file with the final name is always whole, and a job that is run again skips the
units whose shard exists.

``merge(index, paths)`` groups shards by source and replaces each source in the
index in one transaction, after checking that every part of it is there and that
the shards were made with the index's k, w and normalization.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from attribution.index import AttributionError, Index, PreparedDocument
from attribution.sources import Skipped

FORMAT = "safecoder-shard-1"
SUFFIX = ".shard"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents (
    id INTEGER PRIMARY KEY, repo TEXT NOT NULL, path TEXT NOT NULL, license TEXT NOT NULL,
    size INTEGER NOT NULL, normalized BLOB NOT NULL, line_starts BLOB NOT NULL,
    hashes BLOB NOT NULL, positions BLOB NOT NULL
);
"""


@dataclass(frozen=True)
class ShardInfo:
    source: str
    part: int
    parts: int
    k: int
    w: int
    mode: str
    documents: int = 0
    bytes: int = 0
    binary: int = 0
    too_big: int = 0
    unreadable: int = 0


def file_name(source: str, part: int, parts: int) -> str:
    """``<source hash>-<part>-of-<parts>.shard``, parts counted from 1 as in messages."""
    tag = hashlib.sha256(source.encode()).hexdigest()[:16]
    return f"{tag}-{part + 1:06d}-of-{parts:06d}{SUFFIX}"


def write(
    path: Path, info: ShardInfo, docs: Iterable[PreparedDocument], skipped: Skipped | None = None
) -> ShardInfo:
    """Write ``docs`` to the shard ``path`` (atomically); ``info`` with the counts
    (and what ``skipped`` holds once ``docs`` are consumed)."""
    partial = path.with_name(path.name + f".partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    db = sqlite3.connect(partial, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=OFF")
        db.executescript(_SCHEMA)
        db.execute("BEGIN")
        count = size = 0
        for doc in docs:
            db.execute(
                "INSERT INTO documents (repo, path, license, size, normalized, line_starts, "
                "hashes, positions) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    doc.repo,
                    doc.path,
                    doc.license,
                    doc.size,
                    doc.normalized,
                    doc.line_starts,
                    doc.hashes.astype("<i8").tobytes(),
                    doc.positions.astype("<i4").tobytes(),
                ),
            )
            count += 1
            size += doc.size
        counts = {"documents": count, "bytes": size}
        if skipped is not None:
            counts |= {
                "binary": skipped.binary,
                "too_big": skipped.too_big,
                "unreadable": len(skipped.unreadable),
            }
        done = ShardInfo(**{**asdict(info), **counts})
        db.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [("format", FORMAT)] + [(k, str(v)) for k, v in asdict(done).items()],
        )
        db.execute("COMMIT")
    except BaseException:
        db.close()
        partial.unlink(missing_ok=True)
        raise
    db.close()
    os.replace(partial, path)
    return done


def read_info(path: Path) -> ShardInfo:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        finally:
            db.close()
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT!r}")
        fields = ShardInfo.__dataclass_fields__
        return ShardInfo(
            **{k: meta[k] if fields[k].type == "str" else int(meta[k]) for k in fields}
        )
    except (sqlite3.DatabaseError, ValueError, KeyError) as exc:
        raise AttributionError(
            f"{path} is not a shard this version can read: {exc}.",
            "Delete it and run the shard job again (it redoes only missing shards).",
        ) from exc


def read(path: Path) -> Iterator[PreparedDocument]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT repo, path, license, size, normalized, line_starts, hashes, positions "
            "FROM documents ORDER BY id"
        )
        for repo, file, lic, size, normalized, line_starts, hashes, positions in rows:
            yield PreparedDocument(
                repo,
                file,
                lic,
                size,
                normalized,
                line_starts,
                np.frombuffer(hashes, dtype="<i8").astype(np.int64),
                np.frombuffer(positions, dtype="<i4").astype(np.int64),
            )
    except sqlite3.DatabaseError as exc:
        raise AttributionError(
            f"{path} broke off while reading: {exc}.",
            "Delete it and run the shard job again (it redoes only missing shards).",
        ) from exc
    finally:
        db.close()


def find(paths: Sequence[str | Path]) -> list[Path]:
    """Shard files named directly or found in the given directories."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(p.glob(f"*{SUFFIX}"))
        elif p.is_file():
            found.append(p)
        else:
            raise AttributionError(f"{p} does not exist.", "Give shard files or their folder.")
    if not found:
        raise AttributionError(
            f"no shards ({SUFFIX} files) in {', '.join(map(str, paths))}.",
            "Write them with `safecoder-lsp attribution shard SOURCE... --out DIR`.",
        )
    return found


def group(paths: Iterable[Path]) -> dict[str, list[tuple[ShardInfo, Path]]]:
    """Shards by source, each source checked complete (parts 0..parts-1, once each)."""
    by_source: dict[str, list[tuple[ShardInfo, Path]]] = defaultdict(list)
    for path in paths:
        info = read_info(path)
        by_source[info.source].append((info, path))
    for source, shards in by_source.items():
        shards.sort(key=lambda s: s[0].part)
        parts = {info.parts for info, _ in shards}
        have = [info.part for info, _ in shards]
        if len(parts) != 1:
            raise AttributionError(
                f"the shards of {source} come from different jobs (cut into "
                f"{' and '.join(map(str, sorted(parts)))} parts).",
                "Keep one job's shards in a folder: delete the others and run it again.",
            )
        wanted = parts.pop()
        missing = sorted(set(range(wanted)) - set(have))
        if missing:
            raise AttributionError(
                f"the shards of {source} are incomplete: parts {_ranges(missing)} of "
                f"{wanted} are missing.",
                "Run the shard job again: it redoes only the missing shards.",
            )
        if len(have) != wanted:
            twice = sorted({p for p in have if have.count(p) > 1})
            raise AttributionError(
                f"the shards of {source} hold parts {_ranges(twice)} twice: "
                + ", ".join(str(path) for info, path in shards if info.part in twice)
                + ".",
                "Give each shard once (one job's output folder).",
            )
    return dict(by_source)


def merge(index: Index, paths: Iterable[Path], progress=None) -> dict[str, int]:
    """Replace each source the shards hold in ``index``; documents added per source."""
    groups = group(paths)
    for shards in groups.values():
        for info, path in shards:
            if (info.k, info.w, info.mode) != (index.k, index.w, index.mode):
                raise AttributionError(
                    f"{path} was made with k={info.k} w={info.w} mode={info.mode}, the index "
                    f"{index.path} with k={index.k} w={index.w} mode={index.mode}.",
                    "Merge into an index built with the same settings, or a new one.",
                )
    added: dict[str, int] = {}
    for source, shards in groups.items():
        docs = (doc for _, path in shards for doc in read(path))
        added[source] = index.add_prepared(source, docs)
        if progress is not None:
            progress(source, added[source])
    return added


def _ranges(numbers: list[int]) -> str:
    shown = ", ".join(str(n + 1) for n in numbers[:10])
    return shown + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")
