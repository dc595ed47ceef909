"""The engine-kind registry: its entries, lazy factories, lookups."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine import kinds

ROOT = Path(__file__).resolve().parents[3]


def test_the_registered_kinds_in_order():
    assert kinds.names() == ("llamacpp", "openai", "tgi", "llamacpp-infill", "ollama")
    assert kinds.LOCAL == "llamacpp" and not kinds.get(kinds.LOCAL).remote
    for name in ("openai", "tgi", "llamacpp-infill", "ollama"):
        assert kinds.get(name).remote
    for kind in kinds.KINDS.values():
        assert kind.description and "\n" not in kind.description
        module, _, attribute = kind.factory.partition(":")
        assert module and attribute, kind.factory


def test_an_unknown_kind_names_the_known_ones():
    with pytest.raises(ValueError, match="known kinds: llamacpp, openai"):
        kinds.get("nope")


def test_a_kind_is_registered_once(monkeypatch):
    monkeypatch.setattr(kinds, "KINDS", dict(kinds.KINDS))
    with pytest.raises(ValueError, match="already registered"):
        kinds.register(kinds.get("tgi"))


@pytest.mark.parametrize("name", ["openai", "tgi", "llamacpp-infill"])
def test_remote_factories_make_their_api(name):
    from engine.fim import QWEN

    api = kinds.get(name).load()(QWEN)
    assert api.stream_path and api.framing in ("sse", "ndjson")
    assert callable(api.body) and callable(api.event) and callable(api.discover)


def test_the_ollama_factory_lets_ollama_build_the_prompt_without_a_template():
    from engine.fim import QWEN, SERVER_SIDE

    factory = kinds.get("ollama").load()
    assert factory(QWEN).raw is True and factory(QWEN).template is None
    assert factory(None).raw is False and factory(None).template is SERVER_SIDE


def test_the_local_factory_is_the_llama_cpp_engine():
    from engine.llamacpp import LlamaCppEngine

    assert kinds.get("llamacpp").load() is LlamaCppEngine


def test_importing_the_registries_and_the_config_loads_no_engine():
    # The factories are lazy: llama.cpp must be imported before numpy in a process
    # that loads the model (safecoder_lsp/native.py), so neither may come in here.
    code = (
        "import sys, engine.kinds, engine.fim, safecoder_lsp.config, safecoder_lsp.native\n"
        "loaded = [m for m in ('numpy', 'llama_cpp', 'engine.llamacpp', 'engine.remote.engine')"
        " if m in sys.modules]\n"
        "print(loaded)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
