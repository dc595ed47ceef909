"""doctor's GPU hint. No GPU build exists here: llama_supports_gpu_offload is faked
(named so below); everything else is the real check."""

from __future__ import annotations

import io

import llama_cpp
import pytest

from safecoder_lsp.config import load_config
from safecoder_lsp.doctor import Report, _check_llama


@pytest.mark.parametrize(
    ("gpu", "layers", "kind", "hinted"),
    [
        (True, "0", "llamacpp", True),  # a GPU build left on the CPU: say so
        (True, "-1", "llamacpp", False),
        (True, "0", "openai", False),  # no local model to offload
        (False, "0", "llamacpp", False),  # a CPU build: nothing to offload to
    ],
)
def test_a_gpu_build_with_no_offloaded_layers_is_pointed_out(
    monkeypatch, gpu, layers, kind, hinted
):
    # FAKE: this machine only has a CPU build; the answer of a GPU build is faked.
    monkeypatch.setattr(llama_cpp, "llama_supports_gpu_offload", lambda: gpu)
    env = {"SAFECODER_ENGINE_N_GPU_LAYERS": layers, "SAFECODER_ENGINE_KIND": kind}
    if kind != "llamacpp":
        env["SAFECODER_ENGINE_URL"] = "http://127.0.0.1:9"
    cfg = load_config(user_file=None, env=env, policy=[]).config
    out = io.StringIO()
    _check_llama(Report(out), cfg, local=kind == "llamacpp")
    text = out.getvalue()
    assert f"GPU offload: {'yes' if gpu else 'no'}" in text
    assert ("engine.n_gpu_layers = -1" in text) is hinted
    assert ("[warn] GPU" in text) is hinted
