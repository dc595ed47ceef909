"""The export pipeline, two forms (`train export --as`):

- merged: merge -> convert (f16) -> quantize -> register, built in a temporary folder
  beside the target and renamed into place at the end; serve with model.path.
- lora: the adapter as a GGUF LoRA (f16) -> register; serve with model.path = the
  base and model.lora_path = the adapter (no second quantization of the base)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.models.store import model_dir
from training.errors import TrainingError
from training.export.converter import convert
from training.export.lora import lora_gguf
from training.export.merge import find_run, merged_checkpoint
from training.export.quantize import check_type, quantize
from training.export.register import register


def default_target(run: Path, kind: str) -> Path:
    return model_dir() / f"{run.absolute().name}-{kind}.gguf"


def _target(adapter: Path, out: Path | None, kind: str) -> Path:
    target = (out or default_target(adapter.parent, kind)).absolute()
    if target.suffix.lower() != ".gguf":
        raise TrainingError(f"{target} should end in .gguf")
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def export_lora(run: Path, out: Path | None = None,
                log: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """The run's adapter as a GGUF LoRA at ``out`` (default: the model store)."""
    adapter, record = find_run(run)
    target = _target(adapter, out, "lora")
    log("converting the adapter with llama.cpp's LoRA converter")
    lora_gguf(adapter, record, target)
    digest = register(target, {**record, "format": "lora", "adapter": str(adapter)})
    log(f"sha256 {digest}")
    return {"path": str(target), "sha256": digest, "base": record["base"]["path"]}


def export(
    run: Path, out: Path | None = None, kind: str = "q4_k_m",
    log: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Export the run's model to ``out`` (default: the model store); returns its record."""
    check_type(kind)  # before the minutes of merging and converting
    adapter, record = find_run(run)
    target = _target(adapter, out, kind)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=target.parent) as tmp:
        work = Path(tmp)
        log(f"merging the adapter into {record['base']['name']}")
        merged_checkpoint(adapter, record, work / "merged")
        log("converting with llama.cpp's converter")
        convert(work / "merged", work / "f16.gguf")
        log(f"quantizing to {kind}")
        quantize(work / "f16.gguf", work / "out.gguf", kind)
        os.replace(work / "out.gguf", target)
    digest = register(target, {**record, "format": "merged", "quantization": kind,
                               "adapter": str(adapter)})
    log(f"sha256 {digest}")
    return {"path": str(target), "sha256": digest}
