"""Shared by the training tests: a tiny model and a small real dataset.

``tiny_base``: the architecture of the default model (Qwen2) with random weights, 2
layers of width 32, and the default model's real tokenizer (converted from its GGUF
by transformers, cached: llama.cpp's converter recognises it as Qwen2's by its hash).
``small_dataset``: ``train prepare`` of this project's engine/ sources.
``tiny_run``: `train run` of the tiny model on it (3 steps, a large learning rate so
the adapter visibly changes the model). ``cli``: runs ``safecoder-lsp`` as a user does.
"""

from __future__ import annotations

import os
import subprocess
import sys
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


def run_cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "safecoder_lsp.cli", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=1800,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="session")
def cli():
    return run_cli


@pytest.fixture(scope="session")
def tiny_run(small_dataset, tiny_base, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "payments-model"
    done = run_cli("train", "run", small_dataset, "--base", tiny_base, "--out", out,
                   "--max-steps", "3", "--seq-len", "64", "--save-every", "3", "--threads",
                   "1", "--lr", "0.05")
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def tiny_base_gguf(tiny_base, tmp_path_factory) -> Path:
    """The tiny base converted by llama.cpp's converter (f16)."""
    from training.export.converter import convert

    out = tmp_path_factory.mktemp("tiny-gguf") / "tiny-qwen2-f16.gguf"
    convert(tiny_base, out)
    return out
