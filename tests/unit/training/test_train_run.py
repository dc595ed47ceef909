"""``safecoder-lsp train run`` for real on a tiny model (conftest.py: ``tiny_base``,
``small_dataset``) trained by the real command. Seconds of training, so the whole
path runs in `make test`: progress, checkpoints, the adapter, and kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch  # the training extra: `make test` installs it (make install-train)

ROOT = Path(__file__).resolve().parents[3]


def _cmd(dataset: Path, base: Path, out: Path, steps: int) -> list[str]:
    return [
        sys.executable, "-m", "safecoder_lsp.cli", "train", "run", str(dataset),
        "--base", str(base), "--out", str(out), "--max-steps", str(steps), "--seq-len", "64",
        "--grad-accum", "2", "--save-every", "2", "--threads", "1",
    ]


def _run(*args, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_cmd(*args, **kwargs), capture_output=True, text=True, cwd=ROOT,
                          timeout=600)


def _adapter(out: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(out / "adapter" / "adapter_model.safetensors")


def test_a_short_run_writes_progress_checkpoints_and_the_adapter(small_dataset, tiny_base,
                                                                tmp_path):
    done = _run(small_dataset, tiny_base, tmp_path / "run", 6)
    assert done.returncode == 0, done.stderr[-3000:]
    steps = [line for line in done.stderr.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in steps] == [f"{i}/6" for i in range(1, 7)]
    assert "tokens/s" in steps[-1] and "checkpoint step-000006" in steps[-1]
    losses = [float(line.split()[3]) for line in steps]
    assert all(loss > 0 for loss in losses)
    ckpts = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert ckpts == ["step-000004", "step-000006"]  # the newest two are kept
    weights = _adapter(tmp_path / "run")
    assert any("lora_A" in k for k in weights) and any("lora_B" in k for k in weights)
    assert any(float(v.abs().sum()) > 0 for k, v in weights.items() if "lora_B" in k)


def test_a_run_killed_with_sigkill_resumes_and_ends_where_an_unbroken_one_does(
    small_dataset, tiny_base, tmp_path
):
    """Killed after its checkpoint at step 10 or 12, resumed to a stop at step 18 (an
    adapter to evaluate part-way), then resumed to the end: the same adapter as a run
    never interrupted."""
    steps = 24
    unbroken = _run(small_dataset, tiny_base, tmp_path / "a", steps)
    assert unbroken.returncode == 0, unbroken.stderr[-3000:]
    out = tmp_path / "b"
    proc = subprocess.Popen(_cmd(small_dataset, tiny_base, out, steps), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list((out / "checkpoints").glob("step-00001[02]")):
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint in time"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "adapter").exists()
    paused = subprocess.run([*_cmd(small_dataset, tiny_base, out, steps), "--stop-after", "18"],
                            capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert paused.returncode == 0, paused.stderr[-3000:]
    first = next(line for line in paused.stderr.splitlines() if line.startswith("step "))
    assert int(first.split()[1].split("/")[0]) > 10  # continued, did not start over
    record = json.loads((out / "run.json").read_text())
    assert (record["steps"], record["max_steps"]) == (18, steps)
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    resumed = _run(small_dataset, tiny_base, out, steps)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    first = next(line for line in resumed.stderr.splitlines() if line.startswith("step "))
    assert first.split()[1] == f"19/{steps}"
    a, b = _adapter(tmp_path / "a"), _adapter(out)
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_bad_input_is_a_clear_error(small_dataset, tiny_base, tmp_path):
    missing = _run(small_dataset, tmp_path / "no-such-model.gguf", tmp_path / "x", 2)
    assert missing.returncode == 1 and "not found" in missing.stderr
    not_a_dataset = _run(tmp_path, tiny_base, tmp_path / "y", 2)
    assert not_a_dataset.returncode == 1 and "not a dataset folder" in not_a_dataset.stderr


def test_a_base_without_fim_tokens_is_refused_before_anything_is_written(small_dataset,
                                                                        tmp_path):
    """A causal model whose vocabulary has no fill-in-the-middle tokens (a tiny Llama
    with a byte-level BPE tokenizer trained here on a few lines: no special tokens but
    its end of text) cannot learn infilling: the command says so and writes nothing."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    bpe.train_from_iterator(["def f(x):\n    return x + 1\n"] * 20, trainer)
    folder = tmp_path / "no-fim-model"
    PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="</s>").save_pretrained(folder)
    config = LlamaConfig(vocab_size=bpe.get_vocab_size(), hidden_size=16, intermediate_size=32,
                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1)
    LlamaForCausalLM(config).save_pretrained(folder)
    out = tmp_path / "run"
    done = _run(small_dataset, folder, out, 2)
    assert done.returncode == 1
    assert "no-fim-model has no fill-in-the-middle tokens in its vocabulary" in done.stderr
    assert "choose a code model with FIM training" in done.stderr
    assert not out.exists() or not any(out.rglob("*"))
