"""Recorded answers of real inference servers (tests/unit/engine/wire/: each file names
its source in ``#`` header lines, then a blank line, then the exact bytes)."""

from __future__ import annotations

from pathlib import Path

WIRE = Path(__file__).resolve().parents[1] / "unit" / "engine" / "wire"


def wire(name: str) -> bytes:
    """A recorded answer: the file without its ``#`` header and the blank line after it."""
    lines = (WIRE / name).read_bytes().split(b"\n")
    start = 0
    while lines[start].startswith(b"#"):
        start += 1
    assert lines[start] == b"", f"{name}: a blank line must follow the header"
    return b"\n".join(lines[start + 1 :])
