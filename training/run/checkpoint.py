"""Checkpoints of a run: the adapter's weights, the optimizer and schedule, the random
states and where the data stands, in ``OUT/checkpoints/step-NNNNNN``. Each is written
beside its final name and renamed into place, so a run killed at any point (kill -9
included) leaves only complete checkpoints; the newest one is where a run resumes."""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE = "state.json"
TENSORS = "train_state.pt"


@dataclass(frozen=True)
class Position:
    step: int  # optimizer steps done
    epoch: int
    sequence: int  # sequences of this epoch already used


def directory(out: Path) -> Path:
    return out / "checkpoints"


def complete(out: Path) -> list[Path]:
    """The run's complete checkpoints, oldest first (partial ones have no state file)."""
    return sorted(p for p in directory(out).glob("step-*") if (p / STATE).is_file())


def latest(out: Path) -> Path | None:
    """The newest complete checkpoint of the run in ``out``, if any."""
    found = complete(out)
    return found[-1] if found else None


def save(out: Path, position: Position, model: Any, optimizer: Any, schedule: Any,
         keep: int) -> Path:
    import torch
    from peft import get_peft_model_state_dict

    final = directory(out) / f"step-{position.step:06d}"
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    torch.save(
        {
            "adapter": get_peft_model_state_dict(model),
            "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "python_rng": random.getstate(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        },
        partial / TENSORS,
    )
    (partial / STATE).write_text(json.dumps(position.__dict__) + "\n")  # written last
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    for old in complete(out)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def restore(path: Path, model: Any, optimizer: Any, schedule: Any) -> Position:
    import torch
    from peft import set_peft_model_state_dict

    state = torch.load(path / TENSORS, weights_only=False, map_location="cpu")
    set_peft_model_state_dict(model, state["adapter"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    torch.set_rng_state(state["torch_rng"])
    random.setstate(state["python_rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return Position(**json.loads((path / STATE).read_text()))
