"""The training loop of ``train run``: LoRA on the base model, AdamW, linear warm-up
then linear decay, gradient accumulation and clipping, a checkpoint every
``save_every`` steps, and resume from the newest checkpoint after any interruption.
Seeds are fixed, and the data position and random states are checkpointed, so a
resumed run continues exactly where the interrupted one was."""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.errors import TrainingError
from training.prepare import dataset
from training.run import checkpoint
from training.run.base import Base, load_base
from training.run.checkpoint import Position
from training.run.data import sequences
from training.run.fim import template_for
from training.run.settings import RunSettings

ADAPTER, RECORD = "adapter", "run.json"


@dataclass
class Progress:
    step: int
    max_steps: int
    loss: float
    tokens_per_s: float
    seconds: float
    resumed_from: int = 0
    checkpoint: str = ""  # set on the step a checkpoint was written


def _stream(base: Base, docs: list[str], settings: RunSettings, start: Position
            ) -> Iterator[tuple[int, int, list[int]]]:
    """(epoch, index in the epoch, sequence) from ``start`` on, epoch after epoch."""
    template = template_for(base.vocabulary, base.name)
    epoch, skip = start.epoch, start.sequence
    while True:
        n = 0
        for n, seq in enumerate(sequences(docs, base.tokenize, template, base.eos,
                                          length=settings.seq_len, seed=settings.seed,
                                          epoch=epoch, fim=settings.fim), start=1):
            if n > skip:
                yield epoch, n, seq
        if n == 0:
            raise TrainingError(
                f"the dataset holds less than one sequence of {settings.seq_len} tokens; "
                "use a smaller --seq-len or more code"
            )
        epoch, skip = epoch + 1, 0


def _optimizer(model: Any, settings: RunSettings) -> tuple[Any, Any]:
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=0.0)
    warm, total = settings.warmup_steps, settings.max_steps

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.1, 1.0 - 0.9 * (step - warm) / max(1, total - warm))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _lora(base: Base, settings: RunSettings) -> Any:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
        target_modules=list(settings.target_modules), task_type="CAUSAL_LM",
    )
    try:
        return get_peft_model(base.model, config)
    except ValueError as exc:
        raise TrainingError(f"LoRA does not fit {base.name}: {exc}") from exc


def _step(model: Any, optimizer: Any, schedule: Any, batches: list[list[list[int]]]) -> float:
    import torch

    total = 0.0
    for batch in batches:
        ids = torch.tensor(batch, dtype=torch.long, device=model.device)
        loss = model(input_ids=ids, labels=ids).loss / len(batches)
        loss.backward()
        total += float(loss)
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
    optimizer.step()
    schedule.step()
    optimizer.zero_grad(set_to_none=True)
    return total


def train(
    dataset_dir: Path, base_path: Path, out: Path, settings: RunSettings | None = None,
    progress: Callable[[Progress], None] = lambda p: None, stop_after: int = 0,
) -> dict[str, Any]:
    """Fine-tune; resumes from ``out``'s newest checkpoint; returns the run record.
    ``stop_after``: end at that step (checkpoint and adapter written) on the schedule
    of ``max_steps``; the same command without it, or with a later step, goes on, so
    a run can be evaluated part-way and is the same run as one never stopped."""
    import torch

    settings = settings or RunSettings()
    docs = [row.content for row in dataset.read(dataset_dir, "train")]
    if not docs:
        raise TrainingError(f"{dataset_dir} has no training files")
    torch.set_num_threads(settings.threads or os.cpu_count() or 1)
    torch.manual_seed(settings.seed)
    random.seed(settings.seed)
    base = load_base(base_path)
    if torch.cuda.is_available():  # a GPU machine trains there (the CUDA build of torch)
        base.model.to("cuda")
    model = _lora(base, settings)
    model.train()
    optimizer, schedule = _optimizer(model, settings)
    start, found = Position(0, 0, 0), checkpoint.latest(out)
    if found is not None:
        start = checkpoint.restore(found, model, optimizer, schedule)
    stop = min(settings.max_steps, stop_after or settings.max_steps)
    losses = _loop(base, model, optimizer, schedule, docs, settings, out, start, stop, progress)
    return _finish(out, model, base, dataset_dir, settings, losses, start)


def _loop(base, model, optimizer, schedule, docs, settings: RunSettings, out: Path,
          start: Position, stop: int, progress: Callable[[Progress], None]) -> list[float]:
    stream = _stream(base, docs, settings, start)
    losses: list[float] = []
    began = time.perf_counter()
    epoch, index = start.epoch, start.sequence
    for step in range(start.step + 1, stop + 1):
        batches = []
        for _ in range(settings.grad_accum):
            batch = []
            for _ in range(settings.batch_size):
                epoch, index, seq = next(stream)
                batch.append(seq)
            batches.append(batch)
        losses.append(_step(model, optimizer, schedule, batches))
        saved = ""
        if step % settings.save_every == 0 or step == stop:
            saved = str(checkpoint.save(out, Position(step, epoch, index), model, optimizer,
                                        schedule, settings.keep_checkpoints))
        elapsed = time.perf_counter() - began
        done_tokens = (step - start.step) * settings.tokens_per_step
        progress(Progress(step, settings.max_steps, losses[-1], done_tokens / elapsed, elapsed,
                          start.step, saved))
    return losses


def _previous_loss(out: Path) -> float | None:
    """The last loss an earlier call recorded (a call that trained no step keeps it)."""
    try:
        return json.loads((out / RECORD).read_text()).get("final_loss")
    except (OSError, ValueError):
        return None


def _finish(out: Path, model, base: Base, dataset_dir: Path, settings: RunSettings,
            losses: list[float], start: Position) -> dict[str, Any]:
    partial = out / (ADAPTER + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    shutil.rmtree(out / ADAPTER, ignore_errors=True)
    partial.rename(out / ADAPTER)
    record = {
        "base": {"name": base.name, "path": str(base.path.absolute())},
        "dataset": {"path": str(dataset_dir.absolute()),
                    "version": dataset.recorded_version(dataset_dir)},
        "settings": settings.record(),
        "steps": start.step + len(losses),
        "max_steps": settings.max_steps,
        "resumed_from_step": start.step,
        "final_loss": round(losses[-1], 4) if losses else _previous_loss(out),
    }
    (out / RECORD).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return record
