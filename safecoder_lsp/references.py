"""What the user is told about an accepted suggestion that matches indexed code.

- an Information diagnostic on the matching part of the inserted text (a Warning when
  its license is outside the allowlist) naming the repo, path, lines and license;
- one JSON line per accepted suggestion with matches in the local reference log
  (``references.jsonl`` in the user data directory): time, request id, the file's URI,
  and the matches. No code is written to it;
- the same match objects (``as_json``) on the completion items for clients that show
  them, and ``read_log`` for listing the log's latest entries.

A reference's ``start``/``end`` are character offsets (end exclusive) in the text the
client inserts: the suggestion, shifted by ``base_offset`` when the client inserts
something before it (the popup item re-inserts the typed word).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lsprotocol import types as t

from attribution.index import Match
from attribution.policy import Reference
from safecoder_lsp.completion.service import RequestRecord
from safecoder_lsp.documents import Document, Encoding

log = logging.getLogger(__name__)
SOURCE = "safecoder attribution"
DEFAULT_LOG_LIMIT = 50


def describe(ref) -> str:
    m = ref.match
    lines = f"{m.start_line}-{m.end_line}" if m.end_line != m.start_line else f"{m.start_line}"
    return (
        f"matches {m.repo} {m.path}:{lines} ({m.length} characters), "
        f"license {m.license or 'unknown'}: {ref.why}"
    )


def diagnostics(doc: Document, record: RequestRecord, encoding: Encoding) -> list[t.Diagnostic]:
    """Diagnostics for ``record``'s references, placed where its text was inserted."""
    out = []
    size = len(doc.text)
    for ref in record.references:
        start = min(size, record.offset + ref.match.start)
        end = min(size, record.offset + ref.match.end)
        a, b = doc.position_at(start, encoding), doc.position_at(end, encoding)
        out.append(
            t.Diagnostic(
                range=t.Range(start=t.Position(*a), end=t.Position(*b)),
                message=describe(ref),
                severity=(
                    t.DiagnosticSeverity.Information
                    if ref.allowed
                    else t.DiagnosticSeverity.Warning
                ),
                source=SOURCE,
                code="attribution",
            )
        )
    return out


def log_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("safecoder-lsp")) / "references.jsonl"


def _span(match: Match, length: int | None) -> tuple[int, int]:
    """The match's span in the suggestion, clamped to ``length`` characters."""
    start = max(0, match.start)
    end = max(start, match.end)
    if length is not None:
        start, end = min(start, length), min(end, length)
    return start, end


def _reference_json(ref: Reference, length: int | None, base_offset: int) -> dict[str, Any]:
    m = ref.match
    start, end = _span(m, length)
    return {
        "repo": m.repo,
        "path": m.path,
        "start_line": m.start_line,
        "end_line": m.end_line,
        "license": m.license,
        "length": m.length,
        "allowed": ref.allowed,
        "why": ref.why,
        "start": base_offset + start,
        "end": base_offset + end,
    }


def as_json(
    refs: Iterable[Reference], length: int | None = None, base_offset: int = 0
) -> list[dict[str, Any]]:
    """JSON objects for ``refs`` (spans relative to a suggestion of ``length``
    characters, which starts at ``base_offset`` in the inserted text)."""
    return [_reference_json(ref, length, base_offset) for ref in refs]


def append_to_log(record: RequestRecord, path: Path | None = None) -> None:
    """Add the accepted suggestion's matches to the reference log (never its code)."""
    path = path or log_path()
    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "request_id": record.request_id,
        "uri": record.uri,
        "matches": as_json(record.references, len(record.text)),
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        log.error("cannot write the reference log %s: %s", path, exc)


def _parse_entry(line: str) -> dict[str, Any] | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def read_log(path: Path | None = None, limit: int = DEFAULT_LOG_LIMIT) -> list[dict[str, Any]]:
    """The last ``limit`` entries of the reference log, oldest first. A missing or
    unreadable log gives []; lines that are not JSON objects are skipped (logged)."""
    path = path or log_path()
    entries: deque[dict[str, Any]] = deque(maxlen=max(0, limit))
    bad: list[int] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                entry = _parse_entry(line)
                if entry is None:
                    bad.append(number)
                else:
                    entries.append(entry)
    except FileNotFoundError:
        return []
    except OSError as exc:
        log.error("cannot read the reference log %s: %s", path, exc)
        return []
    if bad:
        log.warning("skipped %d corrupt line(s) in %s (first: line %d)", len(bad), path, bad[0])
    return list(entries)
