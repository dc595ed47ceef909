"""``safecoder-lsp train eval`` for real, on the tiny run (conftest.py): the base (a
checkpoint folder, converted to GGUF once) and the tuned model (its adapter applied
as a GGUF LoRA) measured on the same held-out tasks, tokens and HumanEval tasks;
the held-out loss as llama.cpp computes it equals the loss transformers computes."""

from __future__ import annotations

import json
import math

import pytest
import torch

from evaluation.infill import open_model
from evaluation.loss import WINDOW, heldout_loss, windows
from training.prepare import dataset


def test_eval_prints_one_table_of_both_models_on_the_same_tasks(tiny_run, small_dataset, cli,
                                                                tmp_path):
    report_path = tmp_path / "eval.json"
    done = cli("train", "eval", tiny_run, "--dataset", small_dataset, "--tasks-per-kind", "3",
               "--humaneval", "3", "--loss-tokens", "300", "--out", report_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| figure | base | tuned | ratio |" in done.stdout
    for row in ("held-out exact match, one line", "held-out loss", "HumanEval single-line"):
        assert row in done.stdout
    report = json.loads(report_path.read_text())
    base, tuned = (r["figures"] for r in report["results"])
    assert report["results"][1]["model"].endswith("+ adapter.gguf")
    assert base["tasks"] == tuned["tasks"] == 6  # 3 whole lines, 3 rests of a line
    assert base["tokens"] == tuned["tokens"] == 300
    assert base["humaneval_tasks"] == tuned["humaneval_tasks"] == 3
    assert 0 <= tuned["exact_match_all"] <= 1 and 0 <= tuned["edit_similarity_all"] <= 1
    assert tuned["loss"] != base["loss"]  # the adapter is applied
    assert math.isclose(tuned["perplexity"], math.exp(tuned["loss"]), rel_tol=1e-3)
    # the converted files are reused by the next evaluation
    made = {p.name: p.stat().st_mtime_ns for p in tiny_run.glob("*.gguf")}
    assert set(made) == {"adapter.gguf", "base-f16.gguf"}
    again = cli("train", "eval", tiny_run, "--dataset", small_dataset, "--tasks-per-kind",
                "1", "--humaneval", "0", "--loss-tokens", "0")
    assert again.returncode == 0, again.stderr[-3000:]
    assert {p.name: p.stat().st_mtime_ns for p in tiny_run.glob("*.gguf")} == made
    # the same evaluation again: both models' figures come from the cache, unchanged
    cached = cli("train", "eval", tiny_run, "--dataset", small_dataset, "--tasks-per-kind", "3",
                 "--humaneval", "3", "--loss-tokens", "300")
    assert cached.returncode == 0 and cached.stderr.count("(measured before)") == 2
    assert cached.stdout.strip().splitlines() == report["table"]


def test_llama_cpp_loss_is_the_loss_transformers_computes(tiny_base, tiny_base_gguf,
                                                         small_dataset):
    from transformers import AutoModelForCausalLM

    texts = [row.content for row in dataset.read(small_dataset, "heldout")]
    llm = open_model(tiny_base_gguf, n_ctx=WINDOW + 1, logits_all=True)
    try:
        ours = heldout_loss(llm, texts, max_tokens=700)
        chunks = windows(llm, texts, WINDOW, 700)
        bos = llm.token_bos()
    finally:
        llm.close()
    model = AutoModelForCausalLM.from_pretrained(tiny_base)
    total = 0.0
    with torch.no_grad():
        for chunk in chunks:
            ids = torch.tensor([[bos, *chunk]])
            logits = model(input_ids=ids).logits[0, :-1]
            total += float(torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="sum"))
    assert ours["tokens"] == sum(map(len, chunks)) == 700
    assert ours["loss"] == pytest.approx(total / 700, rel=2e-3)


def test_bad_input_is_a_clear_error(tiny_run, small_dataset, tiny_base_gguf, cli, tmp_path):
    not_a_run = cli("train", "eval", tmp_path, "--dataset", small_dataset)
    assert not_a_run.returncode == 1 and "not a finished run" in not_a_run.stderr
    no_record = cli("train", "eval", tiny_base_gguf, "--dataset", small_dataset)
    assert no_record.returncode == 1 and "name its base model with --base" in no_record.stderr
    not_a_dataset = cli("train", "eval", tiny_run, "--dataset", tmp_path)
    assert not_a_dataset.returncode == 1 and "not a dataset folder" in not_a_dataset.stderr
    assert list(tmp_path.iterdir()) == []
