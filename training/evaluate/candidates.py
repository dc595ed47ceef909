"""The two models `train eval` compares, as llama.cpp loads them: the base GGUF, and
the tuned model, either an exported GGUF or the base with the run's adapter applied
as a GGUF LoRA (converted once into the run folder)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.models.store import read_record, record_path
from training.errors import TrainingError
from training.export.converter import convert
from training.export.lora import lora_gguf
from training.export.merge import find_run

LORA_FILE, BASE_FILE = "adapter.gguf", "base-f16.gguf"


@dataclass(frozen=True)
class Candidate:
    label: str
    model: Path  # a GGUF file
    lora: Path | None = None  # a GGUF LoRA applied at load

    def describe(self) -> str:
        return self.model.name + (f" + {self.lora.name}" if self.lora else "")


def _fresh(target: Path, source: Path) -> bool:
    newest = max((p.stat().st_mtime for p in source.rglob("*") if p.is_file()), default=0)
    return target.is_file() and target.stat().st_mtime >= newest


def _base_gguf(base: Path, run: Path) -> Path:
    """The base as a GGUF (a checkpoint folder is converted once, into the run)."""
    if base.is_file():
        return base
    if not base.is_dir():
        raise TrainingError(f"the base model {base} is gone; name one with --base")
    target = run / BASE_FILE
    if not _fresh(target, base):
        convert(base, target)
    return target


def from_run(path: Path, base: Path | None) -> tuple[Candidate, Candidate]:
    adapter, record = find_run(path)
    base_path = base or Path(record["base"]["path"])
    lora = adapter.parent / LORA_FILE
    if not _fresh(lora, adapter):
        lora_gguf(adapter, record, lora)
    model = _base_gguf(base_path, adapter.parent)
    return Candidate("base", model), Candidate("tuned", model, lora)


def from_gguf(path: Path, base: Path | None) -> tuple[Candidate, Candidate]:
    if base is None:
        record = read_record(path)
        if record is None:
            raise TrainingError(
                f"{path.name} has no {record_path(path).name} (not exported by `train "
                "export`): name its base model with --base"
            )
        base = Path(record["base"]["path"])
    if not base.is_file() or base.suffix.lower() != ".gguf":
        raise TrainingError(f"the base {base} is not a GGUF file; name one with --base")
    return Candidate("base", base), Candidate("tuned", path)


def candidates(path: Path, base: Path | None = None) -> tuple[Candidate, Candidate]:
    """(base, tuned) for a run folder, its adapter folder, or an exported GGUF."""
    path = path.expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return from_gguf(path, base)
    if path.is_dir():
        return from_run(path, base)
    raise TrainingError(f"{path} is neither a run folder of `train run` nor a .gguf file")
