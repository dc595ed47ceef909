"""The GGUF reader (engine/gguf.py) on real small GGUF files built here."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from support.model_files import build_gguf

from engine import gguf


@pytest.fixture
def model_bytes() -> bytes:
    return build_gguf()


def test_gguf_reader_parses_the_built_file(tmp_path: Path, model_bytes: bytes) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(model_bytes)
    meta = gguf.read_metadata(path)
    assert meta.version == 3
    assert meta.architecture == "llama"
    assert meta.name == "tiny"
    assert meta.metadata["llama.extra"] == [1, -2, 3]
    assert [(t.name, t.shape, t.type_name) for t in meta.tensors] == [
        ("tok_embd.weight", (8, 4), "F32"),
        ("output.weight", (16,), "F32"),
    ]
    assert meta.data_offset % 32 == 0
    assert meta.data_end == len(model_bytes)
    gguf.check_complete(path)  # a complete file passes


def test_gguf_check_complete_rejects_a_cut_file(tmp_path: Path, model_bytes: bytes) -> None:
    path = tmp_path / "cut.gguf"
    path.write_bytes(model_bytes[:-5])
    with pytest.raises(gguf.GgufError) as info:
        gguf.check_complete(path)
    assert "truncated" in info.value.message
    assert str(len(model_bytes)) in info.value.message
    assert "model pull" in info.value.hint


def test_gguf_header_cut_short_is_a_truncated_header(tmp_path: Path, model_bytes: bytes) -> None:
    path = tmp_path / "head.gguf"
    path.write_bytes(model_bytes[:40])
    with pytest.raises(gguf.GgufError, match="truncated header"):
        gguf.read_metadata(path)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty"),
        (b"<!DOCTYPE html><html>login</html>", "HTML"),
        (b"PK\x03\x04" + b"\0" * 40, "zip"),
        (b"ggjt" + b"\0" * 40, "old GGML format"),
        (b"FUGG" + b"\0" * 40, "byte-swapped"),
    ],
)
def test_gguf_reader_names_what_a_non_gguf_file_is(
    tmp_path: Path, content: bytes, needle: str
) -> None:
    path = tmp_path / "x.gguf"
    path.write_bytes(content)
    with pytest.raises(gguf.GgufError) as info:
        gguf.read_metadata(path)
    assert "is not a GGUF model file" in info.value.message
    assert needle in info.value.message


def test_describe_start_recognises_a_git_lfs_pointer() -> None:
    # Called with the whole pointer line; the readers pass only 16 bytes (see the report).
    text = gguf.describe_start(b"version https://git-lfs.github.com/spec/v1\n")
    assert "Git LFS pointer" in text
    assert gguf.describe_start(b"\x01\x02") == "it starts with b'\\x01\\x02'"


def test_gguf_reader_rejects_an_unsupported_version(tmp_path: Path, model_bytes: bytes) -> None:
    path = tmp_path / "v9.gguf"
    path.write_bytes(model_bytes[:4] + struct.pack("<I", 9) + model_bytes[8:])
    with pytest.raises(gguf.GgufError, match="GGUF version 9, which is not supported"):
        gguf.read_metadata(path)


def test_gguf_reader_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(gguf.GgufError, match="does not exist"):
        gguf.read_metadata(tmp_path / "nope.gguf")
    with pytest.raises(gguf.GgufError, match="is a directory"):
        gguf.read_metadata(tmp_path)


def test_a_git_lfs_pointer_is_named_as_such(tmp_path):
    pointer = tmp_path / "model.gguf"
    pointer.write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 491400064\n"
    )
    with pytest.raises(gguf.GgufError, match="Git LFS pointer"):
        gguf.read_metadata(pointer)


# -- agreement with llama.cpp's gguf package ----------------------------------------
def test_the_type_table_agrees_with_llama_cpps_gguf_package() -> None:
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    for type_id, (name, block, block_bytes) in gguf.GGML_TYPES.items():
        theirs = GGMLQuantizationType(type_id)
        assert theirs.name == name
        assert GGML_QUANT_SIZES[theirs] == (block, block_bytes)


def test_the_reader_agrees_with_gguf_reader(tmp_path: Path, model_bytes: bytes) -> None:
    from gguf import GGUFReader

    path = tmp_path / "m.gguf"
    path.write_bytes(model_bytes)
    ours = gguf.read_metadata(path)
    theirs = GGUFReader(path)
    assert [t.name for t in ours.tensors] == [t.name for t in theirs.tensors]
    for mine, other in zip(ours.tensors, theirs.tensors, strict=True):
        assert mine.shape == tuple(int(d) for d in other.shape)
        assert ours.data_offset + mine.offset == other.data_offset
        assert mine.nbytes == other.n_bytes
    assert ours.metadata["general.name"] == theirs.fields["general.name"].contents()
