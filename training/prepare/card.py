"""The data card: where the dataset came from and what every step did, as JSON
(``card.json``, for tools) and Markdown (``CARD.md``, for people). Holds counts and
file paths, never a removed value."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from attribution.licenses import from_header

if TYPE_CHECKING:
    from training.prepare.counts import Counts
    from training.prepare.dataset import Row
    from training.prepare.extract import Source
    from training.prepare.settings import PrepareSettings

FORMAT = "safecoder-dataset/1"


def _languages(rows: Sequence[Row]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for row in rows:
        entry = table.setdefault(row.language, {"files": 0, "lines": 0})
        entry["files"] += 1
        entry["lines"] += len(row.content.splitlines())
    return dict(sorted(table.items()))


def _licenses(sources: Sequence[Source], splits: dict[str, list[Row]]) -> dict[str, Any]:
    headers = Counter(
        spdx for rows in splits.values() for r in rows if (spdx := from_header(r.content))
    )
    return {
        "repositories": {s.name: s.license or "unknown" for s in sources},
        "file_headers": dict(sorted(headers.items())),
    }


def build_card(
    sources: Sequence[Source], settings: PrepareSettings, counts: Counts,
    splits: dict[str, list[Row]], version: str,
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": version,
        "sources": [
            {"name": s.name, "root": str(s.root.absolute()), "kind": s.kind,
             "commit": s.commit, "license": s.license, "files": counts.seen[s.name]}
            for s in sources
        ],
        "settings": asdict(settings),
        "counts": {
            "files_found": sum(counts.seen.values()),
            "left_out": dict(sorted(counts.left_out.items())),
            "selected": counts.selected,
            "exact_duplicates": counts.exact_duplicates,
            "near_duplicates": counts.near_duplicates,
            "deidentified": dict(sorted(counts.deidentified.items())),
            "files_deidentified": len(counts.deidentified_by_file),
            "decontaminated": counts.decontaminated,
            "train": len(splits["train"]),
            "heldout": len(splits["heldout"]),
        },
        "languages": {name: _languages(rows) for name, rows in splits.items()},
        "licenses": _licenses(sources, splits),
        "deidentified_by_file": dict(sorted(counts.deidentified_by_file.items())),
    }


def render_card(card: dict[str, Any]) -> str:
    c = card["counts"]
    lines = [
        f"# Dataset {card['version']}", "",
        f"Format {card['format']}. Built by `safecoder-lsp train prepare`.", "",
        "## Sources", "", "| name | kind | commit | license | files |", "|---|---|---|---|---|",
        *(f"| {s['name']} | {s['kind']} | {s['commit'][:12] or '-'} | "
          f"{s['license'] or 'unknown'} | {s['files']} |" for s in card["sources"]),
        "", "## Steps", "", "| step | files |", "|---|---|",
        f"| found | {c['files_found']} |",
        *(f"| left out: {reason} | {n} |" for reason, n in c["left_out"].items()),
        f"| selected | {c['selected']} |",
        f"| exact duplicates removed | {c['exact_duplicates']} |",
        f"| near duplicates removed | {c['near_duplicates']} |",
        f"| files with values replaced | {c['files_deidentified']} |",
        f"| training files removed as close to a held-out file | {c['decontaminated']} |",
        f"| training | {c['train']} |", f"| held out | {c['heldout']} |",
        "", "## Replaced (placeholders; values are not recorded)", "",
        *(f"- {kind}: {n}" for kind, n in c["deidentified"].items()),
        "", "## Languages", "", "| split | language | files | lines |", "|---|---|---|---|",
        *(f"| {split} | {lang} | {v['files']} | {v['lines']} |"
          for split, table in card["languages"].items() for lang, v in table.items()),
        "",
    ]
    return "\n".join(lines)
