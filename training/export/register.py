"""The exported model in the model store: its sha256 beside it (as `model pull` records
one) and ``<file>.record.json``: the base, the dataset, the run's settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.models.store import record_path, record_sha, sha256_of


def register(path: Path, record: dict[str, Any]) -> str:
    digest = sha256_of(path)
    record_sha(path, digest)
    full = {**record, "file": path.name, "sha256": digest}
    side = record_path(path)
    tmp = side.with_name(f".{side.name}.tmp")
    tmp.write_text(json.dumps(full, indent=2, sort_keys=True) + "\n")
    tmp.replace(side)
    return digest
