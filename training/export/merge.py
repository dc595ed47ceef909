"""The adapter of a run merged into its base, saved as a transformers checkpoint
folder (the converter's input). The base is the one the run recorded in run.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from training.errors import TrainingError
from training.run.base import load_base
from training.run.loop import ADAPTER, RECORD


def find_run(path: Path) -> tuple[Path, dict[str, Any]]:
    """(the adapter folder, the run record) for a run folder or its adapter folder."""
    adapter = path / ADAPTER if (path / ADAPTER).is_dir() else path
    record_path = adapter.parent / RECORD
    if not (adapter / "adapter_config.json").is_file() or not record_path.is_file():
        raise TrainingError(
            f"{path} is not a finished run of `safecoder-lsp train run` (no {ADAPTER}/ "
            f"with adapter_config.json beside a {RECORD})"
        )
    return adapter, json.loads(record_path.read_text())


def merged_checkpoint(adapter: Path, record: dict[str, Any], dest: Path) -> None:
    """Base + adapter -> ``dest`` (safetensors, config, tokenizer)."""
    import torch
    from peft import PeftModel

    base = load_base(Path(record["base"]["path"]))
    model = PeftModel.from_pretrained(base.model, adapter).merge_and_unload()
    embed, head = model.get_input_embeddings(), model.get_output_embeddings()
    untied = head is not None and head.weight is not embed.weight
    if untied and torch.equal(head.weight, embed.weight):
        # a GGUF base with one shared matrix comes back untied: tie it again
        model.config.tie_word_embeddings = True
        model.tie_weights()
    model.save_pretrained(dest, safe_serialization=True)
    base.tokenizer.save_pretrained(dest)
