"""Shared by the training tests: a tiny model and a small real dataset.

``tiny_base``: the architecture of the default model (Qwen2) with random weights, 2
layers of width 32, and the default model's real tokenizer (converted from its GGUF
by transformers, cached: llama.cpp's converter recognises it as Qwen2's by its hash).
``small_dataset``: ``train prepare`` of this project's engine/ sources.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch  # the training extra: `make test` installs it (make install-train)

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory, model_path) -> Path:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from training.run.base import gguf_tokenizer

    folder = tmp_path_factory.mktemp("tiny-qwen2")
    tokenizer = gguf_tokenizer(model_path)
    config = Qwen2Config(
        vocab_size=151936, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=1024,
        tie_word_embeddings=True, eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory) -> Path:
    from training.prepare import prepare

    out = tmp_path_factory.mktemp("ds") / "engine-code"
    prepare([ROOT / "engine"], out)
    return out
