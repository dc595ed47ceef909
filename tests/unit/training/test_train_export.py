"""``safecoder-lsp train export`` for real: a tiny run (conftest.py) merged, converted
by llama.cpp's own converter (fetched from the package index once, then cached),
quantized by llama.cpp, registered in a model store, and loaded by llama.cpp, whose
next-token scores match the merged model's in transformers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[3]
PROMPT = "def add(a, b):\n    return a + b\n"


def _hf_scores(checkpoint: Path, adapter: Path | None) -> np.ndarray:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForCausalLM.from_pretrained(checkpoint)
    if adapter is not None:
        model = PeftModel.from_pretrained(model, adapter)
    ids = torch.tensor([tok.encode(PROMPT)])
    with torch.no_grad():
        return model(input_ids=ids).logits[0, -1].numpy()


def _gguf_scores(path: Path, lora: Path | None = None) -> np.ndarray:
    from llama_cpp import Llama

    extra = {"lora_path": str(lora)} if lora else {}
    llm = Llama(str(path), n_ctx=128, logits_all=True, verbose=False, **extra)
    llm.eval(llm.tokenize(PROMPT.encode(), add_bos=False))
    return np.array(llm.scores[llm.n_tokens - 1])


def _export_to_store(cli, run: Path, store: Path, name: str, *args: str):
    """(path, record, stderr, `model list`'s output) of `train export` into ``store``."""
    done = cli("train", "export", run, *args, env={"SAFECODER_MODEL_DIR": str(store)})
    assert done.returncode == 0, done.stderr[-3000:]
    path = Path(done.stdout.strip().splitlines()[-1])
    assert path == store / name and path.is_file()
    record = json.loads(path.with_name(path.name + ".record.json").read_text())
    listed = cli("model", "list", env={"SAFECODER_MODEL_DIR": str(store)})
    return path, record, done.stderr, listed.stdout


def test_export_writes_a_registered_gguf_that_llama_cpp_runs_as_the_merged_model(
    tiny_run, tiny_base, tmp_path, cli
):
    path, record, _, listed = _export_to_store(cli, tiny_run, tmp_path / "models",
                                               "payments-model-f16.gguf", "--as", "merged",
                                               "--quantize", "f16")
    assert record["quantization"] == "f16" and record["steps"] == 3
    assert record["base"]["name"] == tiny_base.name and record["dataset"]["version"]
    sidecar = path.with_name(path.name + ".sha256").read_text().split()[0]
    assert sidecar == record["sha256"]
    assert "payments-model-f16.gguf" in listed and f"{tiny_base.name} fine-tuned (f16)" in listed
    ours, merged = _gguf_scores(path), _hf_scores(tiny_base, tiny_run / "adapter")
    base = _hf_scores(tiny_base, None)
    assert np.corrcoef(ours, merged)[0, 1] > 0.999
    # the adapter is in the file: llama.cpp is far closer to base+adapter than to the base
    assert np.abs(ours - merged).max() * 10 < np.abs(ours - base).max()


def test_a_quantized_export_loads_too(tiny_run, tmp_path, cli):
    out = tmp_path / "ours-q8.gguf"
    done = cli("train", "export", tiny_run, "--as", "merged", "--out", out,
               "--quantize", "q8_0")
    assert done.returncode == 0, done.stderr[-3000:]
    assert out.is_file() and np.isfinite(_gguf_scores(out)).all()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".export-")]


def test_bad_input_is_a_clear_error(tiny_run, tmp_path, cli):
    done = cli("train", "export", tmp_path, "--out", tmp_path / "x.gguf")
    assert done.returncode == 1 and "not a finished run" in done.stderr
    bad = cli("train", "export", tiny_run, "--quantize", "q3_weird")
    assert bad.returncode == 1 and "unknown quantization 'q3_weird'" in bad.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_lora_form_applied_at_load_is_the_tuned_model(tiny_run, tiny_base, tiny_base_gguf,
                                                         tmp_path, cli):
    path, record, stderr, listed = _export_to_store(cli, tiny_run, tmp_path / "models",
                                                    "payments-model-lora.gguf")  # the default
    assert f"model.lora_path = {path}" in stderr
    assert record["format"] == "lora" and record["base"]["name"] == tiny_base.name
    assert f"LoRA adapter of {tiny_base.name}" in listed
    ours = _gguf_scores(tiny_base_gguf, lora=path)
    tuned, base = _hf_scores(tiny_base, tiny_run / "adapter"), _hf_scores(tiny_base, None)
    assert np.corrcoef(ours, tuned)[0, 1] > 0.999
    assert np.abs(ours - tuned).max() * 10 < np.abs(ours - base).max()


def test_the_lora_converter_gets_the_config_of_a_gguf_base(model_path, tmp_path):
    """llama.cpp's LoRA converter needs the base's config.json with its architecture; a
    config read from GGUF metadata names none, so it is added from the model type."""
    from training.export.lora import base_config

    base_config(model_path, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architectures"] == ["Qwen2ForCausalLM"] and config["hidden_size"] == 896
