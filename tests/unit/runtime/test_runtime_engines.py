"""The engine in force is built by looking its kind up in engine/kinds.py."""

from __future__ import annotations

import pytest

from engine import fim, kinds
from engine.base import EngineError
from safecoder_lsp.config import Config
from safecoder_lsp.runtime import engine_factory, remote_engine, template_override

built: list[tuple] = []


class ToyEngine:
    """What a new local engine module provides (the local factory's signature)."""

    fim_template = fim.QWEN

    def __init__(self, model_path, *, n_ctx, n_threads, n_gpu_layers, n_batch) -> None:
        built.append((str(model_path), n_ctx, n_threads, n_gpu_layers, n_batch))


@pytest.fixture
def toy_kind(monkeypatch, tmp_path):
    monkeypatch.setattr(kinds, "KINDS", dict(kinds.KINDS))
    kinds.register(kinds.EngineKind("toy", f"{__name__}:ToyEngine", "a toy"))
    model = tmp_path / "toy.gguf"
    model.write_bytes(b"")
    built.clear()
    return model


def test_a_registered_local_kind_is_built_from_the_registry(toy_kind):
    config = Config().with_values(
        {
            "engine.kind": "toy",
            "model.path": str(toy_kind),
            "engine.n_ctx": 1024,
            "model.fim_stop": ("###",),
        }
    )
    engine = engine_factory(config)()
    assert isinstance(engine, ToyEngine)
    assert built == [(str(toy_kind), 1024, 0, 0, 512)]
    assert engine.fim_template.stop_words == (*fim.QWEN.stop, "###")


def test_a_remote_kind_without_a_url_says_what_to_set():
    config = Config().with_values({"engine.kind": "tgi"})
    with pytest.raises(EngineError) as info:
        engine_factory(config)()
    assert "engine.kind = tgi needs engine.url" in info.value.message
    assert "engine.kind = llamacpp for the local model" in info.value.hint


@pytest.mark.parametrize("kind", ["openai", "tgi", "llamacpp-infill", "ollama"])
def test_each_remote_kind_builds_its_api_and_reports_its_kind(kind):
    config = Config().with_values(
        {"engine.kind": kind, "engine.url": "http://127.0.0.1:9", "engine.model": "qwen2.5-coder"}
    )
    engine = remote_engine(config)
    assert engine.info().kind == kind
    assert type(engine.api) is type(kinds.get(kind).load()(fim.QWEN))


def test_a_local_kind_is_not_a_remote_engine():
    with pytest.raises(EngineError, match="is not a remote engine"):
        remote_engine(Config().with_values({"engine.kind": "llamacpp"}))


def test_template_override_from_the_registry():
    assert template_override(Config()) is None
    assert template_override(Config().with_values({"model.fim_template": "starcoder"})) is (
        fim.STARCODER
    )
    custom = Config().with_values(
        {
            "model.fim_template": "custom",
            "model.fim_prefix": "<p>",
            "model.fim_suffix": "<s>",
            "model.fim_middle": "<m>",
        }
    )
    assert template_override(custom).build("a", "b") == "<p>a<s>b<m>"
