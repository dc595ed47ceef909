"""The dataset folder: ``train.parquet``, ``heldout.parquet``, ``card.json`` and
``CARD.md``, written all at once or not at all (built beside the target and renamed
into place; a failure, a full disk included, leaves the target as it was).

Rows are sorted by (source, path) and nothing in the folder records a time, so the
same input gives the same bytes; the version is a hash of the rows.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.errors import TrainingError

SPLITS = ("train", "heldout")
COLUMNS = ("source", "path", "language", "content", "sha256", "lines")


@dataclass(frozen=True)
class Row:
    source: str
    path: str
    language: str
    content: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content.encode()).hexdigest()


def version(splits: dict[str, Sequence[Row]]) -> str:
    """A short hash of every row of every split: same rows, same version."""
    h = hashlib.sha256()
    for name in SPLITS:
        for row in splits[name]:
            h.update(f"{name}\0{row.source}\0{row.path}\0{row.sha256}\n".encode())
    return h.hexdigest()[:16]


def _table(rows: Sequence[Row]):
    import pyarrow as pa

    ordered = sorted(rows, key=lambda r: (r.source, r.path))
    return pa.table({
        "source": pa.array([r.source for r in ordered], pa.string()),
        "path": pa.array([r.path for r in ordered], pa.string()),
        "language": pa.array([r.language for r in ordered], pa.string()),
        "content": pa.array([r.content for r in ordered], pa.large_string()),
        "sha256": pa.array([r.sha256 for r in ordered], pa.string()),
        "lines": pa.array([len(r.content.splitlines()) for r in ordered], pa.int64()),
    })


def write(out: Path, splits: dict[str, Sequence[Row]], card: dict[str, Any], card_md: str) -> None:
    """Write the dataset folder at ``out`` atomically (replacing an earlier one)."""
    import pyarrow.parquet as pq

    out = out.absolute()
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        for name in SPLITS:
            pq.write_table(_table(splits[name]), partial / f"{name}.parquet", compression="zstd")
        (partial / "card.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
        (partial / "CARD.md").write_text(card_md)
        _replace(partial, out)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        if exc.errno == errno.ENOSPC:
            raise TrainingError(
                f"out of disk space while writing {out}: nothing was written; free space "
                "or choose another --out"
            ) from exc
        raise TrainingError(f"cannot write {out}: {exc.strerror or exc}") from exc
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def _replace(partial: Path, out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise TrainingError(f"{out} exists and is not a directory")
    if out.exists() and any(out.iterdir()) and not (out / "card.json").exists():
        raise TrainingError(f"{out} is a non-empty folder that is not a dataset: not replacing it")
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)
    partial.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def recorded_version(folder: Path) -> str:
    """The version a dataset folder's card records ("" without a card)."""
    card = folder / "card.json"
    return json.loads(card.read_text())["version"] if card.is_file() else ""


def read(folder: Path, split: str) -> list[Row]:
    """The rows of one split of a dataset folder."""
    import pyarrow.parquet as pq

    path = folder / f"{split}.parquet"
    if not path.is_file():
        raise TrainingError(f"{folder} is not a dataset folder (no {split}.parquet)")
    table = pq.read_table(path, columns=["source", "path", "language", "content"]).to_pylist()
    return [Row(**r) for r in table]
