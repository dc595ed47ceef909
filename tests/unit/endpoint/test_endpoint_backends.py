"""safecoder_lsp.endpoint.backends: which backend serves (one slot: SerialBackend on
the local engine), the warning about an unused GPU, and the 16-bit weights that
cannot be made."""

from __future__ import annotations

import pytest


def test_one_slot_serves_one_at_a_time_on_the_local_engine(monkeypatch):
    from safecoder_lsp import runtime
    from safecoder_lsp.config import Config
    from safecoder_lsp.endpoint import backends
    from safecoder_lsp.endpoint.serial import SerialBackend

    made = []

    def factory(config):
        made.append(config.engine.kind)
        from test_serial import ScriptedEngine

        return ScriptedEngine

    monkeypatch.setattr(runtime, "engine_factory", factory)
    # even when the client-side configuration names a remote engine
    backend = backends.make_backend(Config().with_values({"engine.kind": "openai"}), slots=1)
    try:
        assert isinstance(backend, SerialBackend) and made == ["llamacpp"]
    finally:
        backend.close()


@pytest.mark.parametrize(
    ("offload", "layers", "warned"),
    [("True", 0, True), ("True", -1, False), ("True", 20, False), ("False", 0, False)],
)
def test_a_gpu_build_serving_from_the_cpu_is_warned_about(offload, layers, warned):
    from engine.base import EngineInfo
    from safecoder_lsp.config import load_config
    from safecoder_lsp.endpoint.backends import unused_gpu

    env = {"SAFECODER_ENGINE_N_GPU_LAYERS": str(layers)}
    config = load_config(user_file=None, env=env, policy=[]).config
    info = EngineInfo(
        kind="llamacpp-batched", model="m", n_ctx=4096, details={"gpu_offload": offload}
    )
    warning = unused_gpu(info, config)
    assert (warning is not None) is warned
    if warned:
        assert "SAFECODER_ENGINE_N_GPU_LAYERS=-1" in warning


@pytest.mark.model
def test_auto_weights_that_cannot_be_made_fall_back_to_the_file(
    tmp_path, model_path, monkeypatch, capsys
):
    from safecoder_lsp.config import Config
    from safecoder_lsp.endpoint.backends import weights_for

    (tmp_path / "models").write_text("a file where the model directory should be")
    monkeypatch.setenv("SAFECODER_MODEL_DIR", str(tmp_path / "models"))
    cpu = "CPU : AVX2 = 1 | AVX512 = 1 | AVX512_BF16 = 1 | "  # where auto picks 16bit
    path, label = weights_for(model_path, "auto", Config(), 4, system_info=cpu)
    assert (path, label) == (model_path, "original")
    err = capsys.readouterr().err
    assert "weights: 16-bit matrices (batched decoding on a CPU with AVX512 and " in err
    assert "warning: cannot make the directory for the 16-bit copy" in err
    assert "Serving the original weights." in err
    # Asked for explicitly, the same failure stops the start with the way out.
    from engine.relayout import RelayoutError

    with pytest.raises(RelayoutError) as caught:
        weights_for(model_path, "16bit", Config(), 4, system_info=cpu)
    assert "--weights original" in caught.value.hint
