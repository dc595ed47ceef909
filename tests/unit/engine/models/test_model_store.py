"""Where models live (engine/models/store.py): listing and resolving the model file."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.model_files import make_spec

from engine import models as modelstore
from engine.models import ModelStoreError


def test_list_models(store: Path, src: Path, model_bytes: bytes) -> None:
    assert modelstore.list_models() == []  # no model directory yet
    store.mkdir()
    assert modelstore.list_models() == []
    modelstore.pull(str(src), make_spec(model_bytes))
    (store / modelstore.DEFAULT.file_name).write_bytes(model_bytes)  # wrong size
    (store / ".tiny.gguf.x.part").write_bytes(b"GGUF partial")
    (store / ".hidden.gguf").write_bytes(model_bytes)
    (store / "notes.txt").write_text("x")
    (store / "dir.gguf").mkdir()
    entries = modelstore.list_models()
    assert [e.name for e in entries] == [modelstore.DEFAULT.file_name, "tiny.gguf"]
    default, tiny = entries
    assert default.spec is modelstore.DEFAULT
    assert default.is_default
    assert not default.matches
    assert default.size == len(model_bytes)
    assert tiny.spec is None
    assert not tiny.is_default
    assert tiny.path == store / "tiny.gguf"


def test_resolve_configured_path(tmp_path: Path, store: Path, model_bytes: bytes) -> None:
    path = tmp_path / "mine.gguf"
    path.write_bytes(model_bytes)
    assert modelstore.resolve_model_path(f"  {path}  ") == path

    with pytest.raises(ModelStoreError) as info:
        modelstore.resolve_model_path(str(tmp_path / "gone.gguf"))
    assert "model.path" in info.value.message
    assert "does not exist" in info.value.message
    assert "model pull" in info.value.hint

    with pytest.raises(ModelStoreError) as info:
        modelstore.resolve_model_path(str(tmp_path))
    assert "model.path" in info.value.message
    assert "is a directory" in info.value.message


def test_resolve_default_installed_or_not(store: Path, model_bytes: bytes) -> None:
    default = store / modelstore.DEFAULT.file_name
    for configured in ("", "   "):
        with pytest.raises(ModelStoreError) as info:
            modelstore.resolve_model_path(configured)
        assert "not installed" in info.value.message
        assert str(default) in info.value.message
        assert "`safecoder-lsp model pull`" in info.value.hint
        assert "model.path" in info.value.hint
    store.mkdir()
    default.write_bytes(model_bytes)
    assert modelstore.resolve_model_path("") == default
    assert modelstore.default_model_path() == default
