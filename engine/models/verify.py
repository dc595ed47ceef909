"""``safecoder-lsp model verify``: check a model file's GGUF header, completeness,
size and sha256 against the catalog (or the checksum recorded when it was pulled)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine import gguf
from engine.models.catalog import SPECS, spec_for_file
from engine.models.store import Progress, default_model_path, recorded_sha256, sha256_of


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    path: Path
    size: int
    sha256: str  # "" when the file could not be read
    expected_sha256: str | None
    message: str


def verify(path: str | Path | None = None, progress: Progress | None = None) -> VerifyResult:
    """Check a model file: GGUF header, completeness, size and sha256 when known."""
    p = default_model_path() if path is None else Path(path).expanduser()
    if not p.exists():
        return VerifyResult(False, p, 0, "", None, f"{p} does not exist")
    if p.is_dir():
        return VerifyResult(False, p, 0, "", None, f"{p} is a directory, not a model file")
    size = p.stat().st_size
    spec = spec_for_file(p)
    problems: list[str] = []
    try:
        gguf.check_complete(p)
    except gguf.GgufError as exc:
        problems.append(exc.message)
    if spec is not None and spec.size is not None and size != spec.size:
        problems.append(f"size {size:,} bytes, expected {spec.size:,} for {spec.name}")
    try:
        digest = sha256_of(p, progress)
    except OSError as exc:
        return VerifyResult(False, p, size, "", None, f"cannot read {p}: {exc.strerror or exc}")
    if spec is None:  # a known model under another name?
        spec = next((s for s in SPECS.values() if s.sha256 == digest), None)
    expected = spec.sha256 if spec is not None and spec.sha256 else recorded_sha256(p)
    if expected is not None and digest != expected:
        problems.append(f"sha256 mismatch: expected {expected}, got {digest}")
    if problems:
        return VerifyResult(False, p, size, digest, expected, "; ".join(problems))
    if spec is not None and spec.sha256:
        note = f"{spec.name}: sha256 matches the published checksum"
    elif expected is not None:
        note = "sha256 matches the checksum recorded when it was pulled"
    else:
        note = "a complete GGUF file (no checksum known to compare)"
    return VerifyResult(True, p, size, digest, expected, note)
