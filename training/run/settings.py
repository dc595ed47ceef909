"""What ``train run`` does, as one typed record with defaults and checks."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from training.errors import TrainingError
from training.run.fim import FimSettings

LINEAR_LAYERS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class RunSettings:
    max_steps: int = 200  # optimizer steps
    seq_len: int = 512  # tokens per training sequence
    batch_size: int = 1  # sequences per micro-batch
    grad_accum: int = 4  # micro-batches per optimizer step
    learning_rate: float = 2e-4
    warmup_steps: int = 10
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = LINEAR_LAYERS
    save_every: int = 20  # steps between checkpoints
    keep_checkpoints: int = 2
    seed: int = 0
    threads: int = 0  # CPU threads for torch (0: all cores)
    fim: FimSettings = field(default_factory=FimSettings)

    def __post_init__(self) -> None:
        positive = ("max_steps", "seq_len", "batch_size", "grad_accum", "lora_r", "save_every",
                    "keep_checkpoints")
        bad = [name for name in positive if getattr(self, name) < 1]
        if bad:
            raise TrainingError(f"{', '.join(bad)} must be at least 1")
        if not 0 < self.learning_rate < 1:
            raise TrainingError(f"learning rate must be in (0, 1) (got {self.learning_rate})")
        if self.warmup_steps < 0 or self.threads < 0 or not 0 <= self.lora_dropout < 1:
            raise TrainingError("warmup steps and threads must be >= 0, dropout in [0, 1)")

    @property
    def tokens_per_step(self) -> int:
        return self.seq_len * self.batch_size * self.grad_accum

    def record(self) -> dict[str, Any]:
        return asdict(self)
