"""Figures already measured, kept in the user cache (``eval/``) so that the base model
is measured once per dataset and settings, not again for every run compared with it.
The key is the dataset's version, the evaluation settings, and each model file's
path, size and modification time (a re-exported or re-converted file is measured
again)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from engine.models.store import cache_root
from training.evaluate.candidates import Candidate

FORMAT = 1  # bump when what a figure means changes


def _folder() -> Path:
    return cache_root() / "eval"


def key(candidate: Candidate, settings: str) -> str:
    parts = [str(FORMAT), settings]
    for path in (candidate.model, candidate.lora):
        if path is not None:
            st = path.stat()
            parts.append(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def load(name: str) -> dict | None:
    try:
        return json.loads((_folder() / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None


def store(name: str, figures: dict) -> None:
    folder = _folder()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.tmp"
    tmp.write_text(json.dumps(figures, sort_keys=True))
    os.replace(tmp, folder / f"{name}.json")
