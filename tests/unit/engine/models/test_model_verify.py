"""``model verify`` (engine/models/verify.py) on real small GGUF files in a temporary
model directory."""

from __future__ import annotations

import hashlib
from pathlib import Path

from support.model_files import make_spec

from engine import models as modelstore


def test_verify_good_and_corrupted(store: Path, src: Path, model_bytes: bytes) -> None:
    target = modelstore.pull(str(src), make_spec(model_bytes))
    good = modelstore.verify(target)
    assert good.ok
    assert good.size == len(model_bytes)
    assert good.sha256 == good.expected_sha256 == hashlib.sha256(model_bytes).hexdigest()
    assert "recorded" in good.message

    flipped = bytearray(model_bytes)
    flipped[-1] ^= 0xFF  # a bit flip in the tensor data: only the checksum notices
    target.write_bytes(bytes(flipped))
    bad = modelstore.verify(target)
    assert not bad.ok
    assert "sha256 mismatch" in bad.message
    assert bad.sha256 == hashlib.sha256(bytes(flipped)).hexdigest()

    target.write_bytes(model_bytes[:-8])
    cut = modelstore.verify(target)
    assert not cut.ok
    assert "truncated" in cut.message


def test_verify_without_a_checksum(tmp_path: Path, store: Path, model_bytes: bytes) -> None:
    path = tmp_path / "loose.gguf"
    path.write_bytes(model_bytes)
    result = modelstore.verify(path)
    assert result.ok
    assert result.expected_sha256 is None
    assert "no checksum" in result.message
    path.write_bytes(b"GGML" + model_bytes[4:])
    result = modelstore.verify(path)
    assert not result.ok
    assert "not a GGUF" in result.message


def test_verify_known_name_with_the_wrong_size(store: Path, model_bytes: bytes) -> None:
    store.mkdir()
    path = store / modelstore.DEFAULT.file_name
    path.write_bytes(model_bytes)
    result = modelstore.verify()  # None: the default model
    assert result.path == path
    assert not result.ok
    assert f"expected {modelstore.DEFAULT.size:,}" in result.message
    assert result.expected_sha256 == modelstore.DEFAULT.sha256


def test_verify_missing_and_directory(store: Path, tmp_path: Path) -> None:
    missing = modelstore.verify()
    assert not missing.ok
    assert missing.path == store / modelstore.DEFAULT.file_name
    assert "does not exist" in missing.message
    directory = modelstore.verify(tmp_path)
    assert not directory.ok
    assert "is a directory" in directory.message
