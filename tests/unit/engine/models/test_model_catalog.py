"""The model catalog (engine/models/catalog.py): the models ``model pull`` knows, each
pinned by its sha256 and size."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path

import pytest

from engine import models as modelstore
from engine.models import ModelStoreError


def test_specs_and_aliases() -> None:
    assert modelstore.get_spec("default") is modelstore.DEFAULT
    assert modelstore.get_spec("large") is modelstore.LARGE
    assert modelstore.get_spec(modelstore.DEFAULT.name) is modelstore.DEFAULT
    with pytest.raises(ModelStoreError, match="unknown model"):
        modelstore.get_spec("huge")


@pytest.mark.parametrize("spec", list(modelstore.SPECS.values()), ids=lambda s: s.name)
def test_every_model_is_pinned_by_sha256_and_size(spec: modelstore.ModelSpec) -> None:
    assert spec.sha256 is not None and re.fullmatch(r"[0-9a-f]{64}", spec.sha256)
    assert spec.size is not None and spec.size > 0
    assert spec.expected_size == spec.size  # the disk space check uses the real size


def test_the_large_model_is_pinned() -> None:
    large = modelstore.get_spec("large")
    assert large.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert large.size == 1_117_320_768


def test_a_large_model_of_another_size_is_refused(store: Path, src: Path) -> None:
    with pytest.raises(ModelStoreError) as info:
        modelstore.pull(str(src), modelstore.LARGE)
    assert f"expected {modelstore.LARGE.size:,}" in info.value.message
    assert "not installed" in info.value.message
    assert modelstore.list_models() == []


def test_a_large_model_with_another_sha256_is_refused(
    store: Path, src: Path, model_bytes: bytes
) -> None:
    same_size = dataclasses.replace(modelstore.LARGE, size=len(model_bytes))
    with pytest.raises(ModelStoreError) as info:
        modelstore.pull(str(src), same_size)
    assert "sha256 mismatch" in info.value.message
    assert modelstore.LARGE.sha256 in info.value.message  # type: ignore[operator]
    assert hashlib.sha256(model_bytes).hexdigest() in info.value.message
    assert modelstore.list_models() == []
    assert not (store / modelstore.LARGE.file_name).exists()
