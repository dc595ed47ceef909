"""Work units: a corpus cut into pieces that can be fingerprinted independently.

A unit is part ``part`` of ``parts`` of one index source (the name it is replaced under
in the index): a whole directory, a run of row groups of a parquet file, or one
installed Python distribution. Units are plain data, so they travel to worker
processes and Ray tasks; ``documents(unit)`` reads one where it runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from attribution.index import AttributionError, SourceDocument
from attribution.sources import (
    Skipped,
    directory,
    distribution_names,
    open_parquet,
    python_distributions,
    stack_parquet,
)

SITE_PACKAGES = "site-packages"
TARGET_BYTES = 64 << 20  # uncompressed parquet bytes per unit

Kind = Literal["directory", "parquet", "distributions"]


@dataclass(frozen=True)
class Unit:
    source: str  # the source name in the index
    kind: Kind
    location: str  # the directory or parquet file; "" for installed distributions
    part: int  # 0-based
    parts: int
    selection: tuple[int | str, ...] = ()  # row groups, or distribution names

    def describe(self) -> str:
        return f"{self.source} [{self.part + 1}/{self.parts}]"


def source_name(source: str) -> str:
    """The name a SOURCE argument is indexed under: the absolute path, or site-packages."""
    return source if source == SITE_PACKAGES else str(Path(source).resolve())


def plan(sources: Sequence[str], target_bytes: int = TARGET_BYTES) -> list[Unit]:
    units: list[Unit] = []
    for source in sources:
        name = source_name(source)
        if source == SITE_PACKAGES:
            names = sorted(distribution_names())
            units += [
                Unit(name, "distributions", "", i, len(names), (n,)) for i, n in enumerate(names)
            ]
        elif source.endswith(".parquet"):
            groups = _row_group_runs(name, target_bytes)
            units += [Unit(name, "parquet", name, i, len(groups), g) for i, g in enumerate(groups)]
        elif Path(name).is_dir():
            units.append(Unit(name, "directory", name, 0, 1))
        else:
            raise AttributionError(
                f"{source} is not a directory, a .parquet file or '{SITE_PACKAGES}'.",
                "Give a directory, a git checkout, a The Stack parquet file, or "
                f"'{SITE_PACKAGES}'.",
            )
    return units


def _row_group_runs(path: str, target_bytes: int) -> list[tuple[int, ...]]:
    meta = open_parquet(path).metadata
    runs: list[tuple[int, ...]] = []
    run: list[int] = []
    size = 0
    for i in range(meta.num_row_groups):
        run.append(i)
        size += meta.row_group(i).total_byte_size
        if size >= target_bytes:
            runs.append(tuple(run))
            run, size = [], 0
    if run or not runs:
        runs.append(tuple(run))
    return runs


def documents(unit: Unit, skipped: Skipped) -> Iterator[SourceDocument]:
    if unit.kind == "directory":
        try:
            yield from directory(unit.location, skipped)
        except FileNotFoundError as exc:
            raise AttributionError(f"{exc}.", "Give a directory that exists.") from exc
    elif unit.kind == "parquet":
        groups = [int(g) for g in unit.selection]
        yield from stack_parquet(unit.location, skipped, row_groups=groups)
    else:
        yield from python_distributions(skipped, only={str(n) for n in unit.selection})
