"""The adapter of a run, exported as a GGUF LoRA (`train export --as lora`), served with
model.lora_path: both llama.cpp engines (the embedded one and the endpoint's batched
one) apply it, greedily writing what llama.cpp itself writes with the adapter, which
is not what the base alone writes; a missing or mismatched adapter is a clear error."""

from __future__ import annotations

import json
from pathlib import Path

import llama_cpp
import pytest

from engine.base import CancelToken, EngineError, GenerationRequest, generate_text
from engine.batched import BatchedEngine
from engine.llamacpp import LlamaCppEngine

PROMPT = "<|fim_prefix|>def add(a, b):\n    return <|fim_suffix|>\n<|fim_middle|>"
TOKENS = 12


@pytest.fixture(scope="module")
def lora(tiny_base, tmp_path_factory, cli) -> Path:
    """A run folder as `train run` leaves it (adapter/ + run.json), its adapter with
    random weights (peft's init_lora_weights=False) so that its effect on the greedy
    text is certain (three steps of real training barely move the tiny model's greedy
    answer), exported by the real command."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from training.run.settings import LINEAR_LAYERS

    run = tmp_path_factory.mktemp("random-run")
    torch.manual_seed(0)
    config = LoraConfig(r=8, lora_alpha=64, init_lora_weights=False,
                        target_modules=list(LINEAR_LAYERS))
    get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_base), config).save_pretrained(
        run / "adapter")
    record = {"base": {"name": tiny_base.name, "path": str(tiny_base)}}
    (run / "run.json").write_text(json.dumps(record))
    out = run / "adapter.gguf"
    done = cli("train", "export", run, "--as", "lora", "--out", out)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def _direct(model: Path, lora: Path | None) -> str:
    extra = {"lora_path": str(lora)} if lora else {}
    llm = llama_cpp.Llama(str(model), n_ctx=256, verbose=False, **extra)
    try:
        res = llm.create_completion(PROMPT, max_tokens=TOKENS, temperature=0.0, top_k=1)
        return res["choices"][0]["text"]
    finally:
        llm.close()


def test_both_engines_apply_the_adapter(tiny_base_gguf, lora):
    tuned, plain = _direct(tiny_base_gguf, lora), _direct(tiny_base_gguf, None)
    assert tuned != plain  # the adapter changes what the model writes
    request = GenerationRequest(PROMPT, max_tokens=TOKENS)
    embedded = LlamaCppEngine(tiny_base_gguf, n_ctx=256, lora_path=lora)
    try:
        assert generate_text(embedded, request) == tuned
        assert embedded.info().details["lora_path"] == str(lora)
    finally:
        embedded.close()
    with BatchedEngine(tiny_base_gguf, slots=2, n_ctx=256, lora_path=lora) as batched:
        assert batched.submit(request, CancelToken()).text() == tuned


def test_a_missing_or_foreign_adapter_is_a_clear_error(tiny_base_gguf, model_path, lora,
                                                       tmp_path):
    with pytest.raises(EngineError, match=r"model.lora_path .* is not a file") as missing:
        LlamaCppEngine(tiny_base_gguf, lora_path=tmp_path / "gone.gguf")
    assert "train export RUN --as lora" in missing.value.hint
    # an adapter of the tiny model on the default model (both qwen2): llama.cpp itself
    # would load it and crash the process; the shapes are checked first
    with pytest.raises(EngineError, match=r"does not fit qwen2\.5-coder") as foreign:
        LlamaCppEngine(model_path, n_ctx=256, lora_path=lora)
    assert "blk.0.ffn_down.weight is (4864, 896) in the model" in str(foreign.value)
    with pytest.raises(EngineError, match="is not a GGUF LoRA adapter"):
        LlamaCppEngine(tiny_base_gguf, lora_path=tiny_base_gguf)
