"""Loading a base (training/run/base.py): the tokenizer converted from a GGUF is cached
and the cached copy tokenizes exactly as the conversion does; bad bases are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.errors import TrainingError
from training.run.base import _tokenizer_cache, gguf_tokenizer, load_base

SAMPLE = 'def add(a, b):\n    """Sum."""\n    return a + b  # <|fim_middle|> in a comment\n'


def test_the_converted_tokenizer_is_cached_and_tokenizes_the_same(model_path, tmp_path,
                                                                  monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # a fresh cache for this test
    cache = _tokenizer_cache(model_path)
    assert str(cache).startswith(str(tmp_path)) and not cache.exists()
    converted = gguf_tokenizer(model_path)
    assert (cache / "tokenizer.json").is_file()
    cached = gguf_tokenizer(model_path)
    for split in (False, True):
        ids = converted.encode(SAMPLE, add_special_tokens=False, split_special_tokens=split)
        assert ids == cached.encode(SAMPLE, add_special_tokens=False, split_special_tokens=split)
    assert converted.get_vocab() == cached.get_vocab()
    assert [p.name for p in cache.parent.iterdir()] == [cache.name]  # no partial copies


@pytest.mark.parametrize(
    ("name", "message"),
    [("missing.gguf", "not found"), ("notes.txt", "not a .gguf file"),
     ("folder", "without config.json")],
)
def test_bad_bases_are_refused_clearly(tmp_path, name, message):
    path = tmp_path / name
    if name == "notes.txt":
        path.write_text("hello")
    elif name == "folder":
        path.mkdir()
    with pytest.raises(TrainingError, match=message):
        load_base(Path(path))
