"""``safecoder-lsp train export`` for real: a tiny run (conftest.py) merged, converted
by llama.cpp's own converter (fetched from the package index once, then cached),
quantized by llama.cpp, registered in a model store, and loaded by llama.cpp, whose
next-token scores match the merged model's in transformers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[3]
PROMPT = "def add(a, b):\n    return a + b\n"


def _cli(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "safecoder_lsp.cli", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=1800,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def tiny_run(small_dataset, tiny_base, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "payments-model"
    done = _cli("train", "run", small_dataset, "--base", tiny_base, "--out", out,
                "--max-steps", "3", "--seq-len", "64", "--save-every", "3", "--threads", "1",
                "--lr", "0.05")  # a large rate: the adapter must visibly change the model
    assert done.returncode == 0, done.stderr[-3000:]
    return out


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


def _gguf_scores(path: Path) -> np.ndarray:
    from llama_cpp import Llama

    llm = Llama(str(path), n_ctx=128, logits_all=True, verbose=False)
    llm.eval(llm.tokenize(PROMPT.encode(), add_bos=False))
    return np.array(llm.scores[llm.n_tokens - 1])


def test_export_writes_a_registered_gguf_that_llama_cpp_runs_as_the_merged_model(
    tiny_run, tiny_base, tmp_path
):
    store = tmp_path / "models"
    done = _cli("train", "export", tiny_run, "--quantize", "f16",
                env={"SAFECODER_MODEL_DIR": str(store)})
    assert done.returncode == 0, done.stderr[-3000:]
    path = Path(done.stdout.strip().splitlines()[-1])
    assert path == store / "payments-model-f16.gguf" and path.is_file()
    record = json.loads(path.with_name(path.name + ".record.json").read_text())
    assert record["quantization"] == "f16" and record["steps"] == 3
    assert record["base"]["name"] == tiny_base.name and record["dataset"]["version"]
    sidecar = path.with_name(path.name + ".sha256").read_text().split()[0]
    assert sidecar == record["sha256"]
    listed = _cli("model", "list", env={"SAFECODER_MODEL_DIR": str(store)})
    assert "payments-model-f16.gguf" in listed.stdout
    ours, merged = _gguf_scores(path), _hf_scores(tiny_base, tiny_run / "adapter")
    base = _hf_scores(tiny_base, None)
    assert np.corrcoef(ours, merged)[0, 1] > 0.999
    # the adapter is in the file: llama.cpp is far closer to base+adapter than to the base
    assert np.abs(ours - merged).max() * 10 < np.abs(ours - base).max()


def test_a_quantized_export_loads_too(tiny_run, tmp_path):
    out = tmp_path / "ours-q8.gguf"
    done = _cli("train", "export", tiny_run, "--out", out, "--quantize", "q8_0")
    assert done.returncode == 0, done.stderr[-3000:]
    assert out.is_file() and np.isfinite(_gguf_scores(out)).all()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".export-")]


def test_bad_input_is_a_clear_error(tiny_run, tmp_path):
    done = _cli("train", "export", tmp_path, "--out", tmp_path / "x.gguf")
    assert done.returncode == 1 and "not a finished run" in done.stderr
    bad = _cli("train", "export", tiny_run, "--quantize", "q3_weird")
    assert bad.returncode == 1 and "unknown quantization 'q3_weird'" in bad.stderr
    assert list(tmp_path.iterdir()) == []
