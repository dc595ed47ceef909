"""The base model to fine-tune: a GGUF file (transformers dequantizes it to float32:
qwen2, llama, starcoder2 and other architectures) or a transformers checkpoint
folder, with its tokenizer.

Converting a GGUF's vocabulary into a transformers tokenizer takes ~23 s for the
default model, so the result is kept in the user cache (``tokenizers/``), keyed by
the file's path, size and modification time, and reused by later runs and exports."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.models.store import cache_root
from training.errors import TrainingError


@dataclass
class Base:
    model: Any  # a transformers PreTrainedModel
    tokenizer: Any  # a transformers PreTrainedTokenizerFast
    name: str  # the file or folder name, for messages and the run record
    path: Path

    @property
    def vocabulary(self) -> set[str]:
        return set(self.tokenizer.get_vocab())

    @property
    def eos(self) -> str:
        return self.tokenizer.eos_token or "<|endoftext|>"

    def tokenize(self, text: str, special: bool) -> list[int]:
        """Token ids of ``text``: special=True parses the model's special tokens."""
        if special:
            return self.tokenizer.encode(text, add_special_tokens=False)
        return self.tokenizer.encode(text, add_special_tokens=False, split_special_tokens=True)


def load_base(path: Path) -> Base:
    """Load the base model in float32 on the CPU (the loop moves it where it trains)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = path.expanduser()
    if not path.exists():
        raise TrainingError(f"base model {path} not found (a .gguf file or a checkpoint folder)")
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise TrainingError(f"{path} is not a .gguf file or a checkpoint folder")
        where, extra = path.parent, {"gguf_file": path.name}
    elif (path / "config.json").is_file():
        where, extra = path, {}
    else:
        raise TrainingError(f"{path} is a folder without config.json: not a checkpoint")
    try:
        tokenizer = gguf_tokenizer(path) if extra else AutoTokenizer.from_pretrained(where)
        model = AutoModelForCausalLM.from_pretrained(where, dtype=torch.float32, **extra)
    except (ValueError, OSError, KeyError, RuntimeError) as exc:
        raise TrainingError(f"cannot load {path} with transformers: {exc}") from exc
    return Base(model, tokenizer, path.name, path)


def _tokenizer_cache(path: Path) -> Path:
    st = path.stat()
    key = hashlib.sha256(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()
    return cache_root() / "tokenizers" / key[:24]


def gguf_tokenizer(path: Path):
    """The transformers tokenizer of a GGUF file, converted once and then cached."""
    from transformers import AutoTokenizer

    cache = _tokenizer_cache(path)
    if (cache / "tokenizer.json").is_file():
        return AutoTokenizer.from_pretrained(cache)
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=cache.parent))
    try:
        tokenizer.save_pretrained(tmp)
        tmp.rename(cache)  # whole or not at all; a concurrent writer's copy wins
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return tokenizer
