"""A run's adapter as a GGUF LoRA file (llama.cpp's ``convert_lora_to_gguf.py``),
applied to the unchanged base at load time (``model.lora_path``): no second
quantization of an already-quantized base. The converter needs the base's
config.json only; it is written from the base's GGUF metadata, and the converter
never asks the Hugging Face hub (``--base`` is always given, the hub is off)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from training.export.converter import run_script

SCRIPT = "convert_lora_to_gguf.py"


def base_config(base: Path, dest: Path) -> None:
    """The base's transformers config.json in ``dest`` (a .gguf file or a folder)."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    if base.is_dir():
        config = AutoConfig.from_pretrained(base)
    else:
        config = AutoConfig.from_pretrained(base.parent, gguf_file=base.name)
    if not config.architectures:  # a config read from GGUF metadata names none
        config.architectures = [MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[config.model_type]]
    config.save_pretrained(dest)


def lora_gguf(adapter: Path, record: dict[str, Any], out: Path) -> Path:
    """Convert ``adapter`` (a peft folder) to ``out`` (f16 GGUF LoRA); returns ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".lora-", dir=out.parent) as tmp:
        base_config(Path(record["base"]["path"]), Path(tmp) / "base")
        partial = Path(tmp) / "adapter.gguf"
        run_script(SCRIPT, [str(adapter), "--base", str(Path(tmp) / "base"), "--outfile",
                            str(partial), "--outtype", "f16"], partial, "LoRA converter")
        os.replace(partial, out)
    return out
