"""The export pipeline: merge -> convert (f16) -> quantize -> register, built in a
temporary folder beside the target and renamed into place at the end."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.models.store import model_dir
from training.errors import TrainingError
from training.export.converter import convert
from training.export.merge import find_run, merged_checkpoint
from training.export.quantize import check_type, quantize
from training.export.register import register


def default_target(run: Path, kind: str) -> Path:
    return model_dir() / f"{run.absolute().name}-{kind}.gguf"


def export(
    run: Path, out: Path | None = None, kind: str = "q4_k_m",
    log: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Export the run's model to ``out`` (default: the model store); returns its record."""
    check_type(kind)  # before the minutes of merging and converting
    adapter, record = find_run(run)
    target = (out or default_target(adapter.parent, kind)).absolute()
    if target.suffix.lower() != ".gguf":
        raise TrainingError(f"{target} should end in .gguf")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=target.parent) as tmp:
        work = Path(tmp)
        log(f"merging the adapter into {record['base']['name']}")
        merged_checkpoint(adapter, record, work / "merged")
        log("converting with llama.cpp's converter")
        convert(work / "merged", work / "f16.gguf")
        log(f"quantizing to {kind}")
        quantize(work / "f16.gguf", work / "out.gguf", kind)
        os.replace(work / "out.gguf", target)
    digest = register(target, {**record, "quantization": kind, "adapter": str(adapter)})
    log(f"sha256 {digest}")
    return {"path": str(target), "sha256": digest}
