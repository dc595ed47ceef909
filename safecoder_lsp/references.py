"""What the user is told about an accepted suggestion that matches indexed code.

- an Information diagnostic on the matching part of the inserted text (a Warning when
  its license is outside the allowlist) naming the repo, path, lines and license;
- one JSON line per accepted suggestion with matches in the local reference log
  (``references.jsonl`` in the user data directory): time, request id, the file's URI,
  and the matches. No code is written to it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from lsprotocol import types as t

from safecoder_lsp.completion.service import RequestRecord
from safecoder_lsp.documents import Document, Encoding

log = logging.getLogger(__name__)
SOURCE = "safecoder attribution"


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


def append_to_log(record: RequestRecord, path: Path | None = None) -> None:
    """Add the accepted suggestion's matches to the reference log (never its code)."""
    path = path or log_path()
    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "request_id": record.request_id,
        "uri": record.uri,
        "matches": [
            {
                "repo": r.match.repo,
                "path": r.match.path,
                "start_line": r.match.start_line,
                "end_line": r.match.end_line,
                "license": r.match.license,
                "length": r.match.length,
                "allowed": r.allowed,
            }
            for r in record.references
        ],
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        log.error("cannot write the reference log %s: %s", path, exc)
