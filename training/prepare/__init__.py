"""``train prepare``: from repositories to a versioned dataset folder.

select -> extract -> exact dedup -> near dedup -> de-identify -> split -> decontaminate
-> write (parquet + data card). Each step is a module of this package; this one
runs them in order and counts what each did.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from languages import language_of
from training.errors import TrainingError
from training.prepare import dataset, dedup, select
from training.prepare.card import build_card, render_card
from training.prepare.counts import Counts
from training.prepare.deidentify import Deidentifier
from training.prepare.extract import Source, list_files, open_source, read_files
from training.prepare.settings import PrepareSettings
from training.prepare.split import heldout_indices

#: Reasons for entries that are not regular files (never read).
NOT_FILES = {"link": "symbolic link", "special": "not a regular file"}


def _names(paths: Sequence[Path]) -> list[str]:
    names: list[str] = []
    for p in paths:
        base = p.absolute().name or "root"
        name, n = base, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.append(name)
    return names


def collect(
    sources: Sequence[Source], settings: PrepareSettings, counts: Counts
) -> list[dataset.Row]:
    """The selected files of every source, as rows (not yet deduplicated)."""
    rows = []
    for source in sources:
        wanted = []
        for entry in list_files(source):
            counts.seen[source.name] += 1
            reason = NOT_FILES.get(entry.kind) or select.by_path(entry.path, entry.size, settings)
            if reason:
                counts.left_out[reason] += 1
            else:
                wanted.append(entry)
        for entry, data in read_files(source, wanted):
            text = select.decode(data)
            reason = (
                select.BINARY if text is None else select.by_content(entry.path, text, settings)
            )
            if reason:
                counts.left_out[reason] += 1
                continue
            rows.append(dataset.Row(source.name, entry.path, language_of(entry.path), text))
    counts.selected = len(rows)
    return rows


def _no_files(repos: Sequence[Path], counts: Counts) -> TrainingError:
    reasons = ", ".join(f"{n} {r}" for r, n in counts.left_out.most_common()) or "no files at all"
    return TrainingError(
        f"no files to train on in {', '.join(map(str, repos))} ({sum(counts.seen.values())} "
        f"found; left out: {reasons}); check --language / --include"
    )


def _timed(counts: Counts, step: str, started: float) -> float:
    now = time.perf_counter()
    counts.seconds[step] = round(now - started, 3)
    return now


def prepare(
    repos: Sequence[Path],
    out: Path,
    settings: PrepareSettings | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Build the dataset folder ``out`` from ``repos``; returns its card."""
    if not repos:
        raise TrainingError("no repository given")
    settings = settings or PrepareSettings()
    counts, t = Counts(), time.perf_counter()
    sources = [open_source(p, n) for p, n in zip(repos, _names(repos), strict=True)]
    rows = collect(sources, settings, counts)
    if not rows:
        raise _no_files(repos, counts)
    t = _timed(counts, "select", t)
    log(f"selected {len(rows)} of {sum(counts.seen.values())} files "
        f"({counts.seconds['select']:.1f} s)")
    kept, dropped = dedup.exact_unique([r.content for r in rows])
    counts.exact_duplicates = len(dropped)
    rows = [rows[i] for i in kept]
    hashes = [dedup.minhash(r.content, settings.num_perm, settings.shingle) for r in rows]
    kept, dropped = dedup.near_unique(hashes, settings.near_threshold, settings.num_perm)
    counts.near_duplicates = len(dropped)
    rows, hashes = [rows[i] for i in kept], [hashes[i] for i in kept]
    t = _timed(counts, "dedup", t)
    log(f"duplicates: {counts.exact_duplicates} exact, {counts.near_duplicates} near "
        f"({counts.seconds['dedup']:.1f} s)")
    rows = _deidentify(rows, sources, counts)
    t = _timed(counts, "deidentify", t)
    log(f"de-identified: {sum(counts.deidentified.values())} replacements "
        f"in {len(counts.deidentified_by_file)} files ({counts.seconds['deidentify']:.1f} s)")
    splits = _split(rows, hashes, settings, counts)
    _timed(counts, "split", t)
    card = build_card(sources, settings, counts, splits, dataset.version(splits))
    dataset.write(out, splits, card, render_card(card))
    log(f"wrote {out}: {len(splits['train'])} training and {len(splits['heldout'])} held-out files")
    return card


def _deidentify(
    rows: list[dataset.Row], sources: Sequence[Source], counts: Counts
) -> list[dataset.Row]:
    scrubber = Deidentifier(
        [a for s in sources for a in s.authors], [e for s in sources for e in s.emails]
    )
    result = []
    for row in rows:
        text, found = scrubber.scrub(row.path, row.content)
        found = +found  # drop zero counts
        if found:
            counts.deidentified.update(found)
            counts.deidentified_by_file[f"{row.source}/{row.path}"] = dict(sorted(found.items()))
        result.append(dataset.Row(row.source, row.path, row.language, text))
    return result


def _split(rows, hashes, settings: PrepareSettings, counts: Counts) -> dict[str, list[dataset.Row]]:
    keys = [(r.source, r.path) for r in rows]
    held = heldout_indices(keys, settings.heldout_fraction, settings.seed)
    train_idx = [i for i in range(len(rows)) if i not in held]
    close = dedup.close_to_any(
        [hashes[i] for i in train_idx], [hashes[i] for i in sorted(held)],
        settings.decontaminate_threshold, settings.num_perm,
    )
    counts.decontaminated = len(close)
    dropped = {train_idx[k] for k in close}
    return {
        "train": [rows[i] for i in train_idx if i not in dropped],
        "heldout": [rows[i] for i in sorted(held)],
    }


__all__ = ["Counts", "PrepareSettings", "TrainingError", "prepare"]
