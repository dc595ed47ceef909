"""Token counters for remote models: the estimate, a tokenizer.json (a tiny real one
trained here with the tokenizers package), the GGUF vocabulary of the real default
model, and the errors for files that are missing or not what they should be."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers

from engine.base import EngineError
from engine.remote import tokens

CODE = [
    "def add(a, b):\n    return a + b\n",
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "for item in items:\n    print(item)\n",
]


def test_no_tokenizer_means_an_estimate():
    count, name = tokens.counter("")
    assert count is tokens.estimate
    assert name.startswith("estimate")
    assert count("") == 0
    assert count("abc") == 1
    assert count("abcd") == 2  # rounded up: an estimate over-counts rather than under
    assert count("x" * 300) == 100


def word_level(tmp_path):
    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator(CODE, trainers.WordLevelTrainer(special_tokens=["[UNK]"]))
    path = tmp_path / "tokenizer.json"
    tokenizer.save(str(path))
    return tokenizer, path


def test_a_tokenizer_json(tmp_path):
    tokenizer, path = word_level(tmp_path)
    count, name = tokens.counter(str(path))
    assert name == "tokenizer tokenizer.json"
    # Whitespace pre-tokenizer: def | add | ( | a | , | b | ): | return | a | + | b
    assert count("def add(a, b):\n    return a + b\n") == 11
    assert count("unseen words count too") == 4  # as [UNK]
    assert count("") == 0
    text = CODE[1]
    assert count(text) == len(tokenizer.encode(text).ids)


def test_a_bpe_tokenizer_json_without_its_special_tokens(tmp_path):
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<unk>", "<s>"], show_progress=False
    )
    tokenizer.train_from_iterator(CODE * 20, trainer)
    # a post-processor that adds <s>: counting must leave it out
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tokenizer.token_to_id("<s>"))]
    )
    path = tmp_path / "bpe.json"
    tokenizer.save(str(path))
    count, name = tokens.counter(str(path))
    assert name == "tokenizer bpe.json"
    for text in CODE:
        ids = tokenizer.encode(text).ids
        assert ids[0] == tokenizer.token_to_id("<s>")
        assert count(text) == len(ids) - 1
        assert 0 < count(text) < len(text)  # merges were learned


def test_the_path_may_start_with_a_tilde(tmp_path, monkeypatch):
    word_level(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    count, _ = tokens.counter("~/tokenizer.json")
    assert count("def add") == 2


def test_a_missing_file(tmp_path):
    with pytest.raises(EngineError, match="does not exist") as info:
        tokens.counter(str(tmp_path / "nope" / "tokenizer.json"))
    assert "engine.tokenizer" in info.value.message
    assert "tokenizer.json" in info.value.hint and "GGUF" in info.value.hint


def test_a_garbage_tokenizer_json(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text('{"version": "1.0", "model": "not a model"}')
    with pytest.raises(EngineError, match=r"not a tokenizer\.json file") as info:
        tokens.counter(str(path))
    assert "tokenizer.json published with the model" in info.value.hint


def test_a_garbage_gguf(tmp_path):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF" + b"\x00" * 60)
    with pytest.raises(EngineError, match="could not be read as a GGUF vocabulary") as info:
        tokens.counter(str(path))
    assert "GGUF file of the endpoint's model" in info.value.hint


@pytest.mark.model
def test_the_gguf_vocabulary_counts_like_the_local_engine(model_path, engine):
    count, name = tokens.counter(str(model_path))
    assert name == f"GGUF vocabulary {model_path.name}"
    snippet = (
        "import os\n\n\ndef list_python_files(root: str) -> list[str]:\n"
        '    """Every .py file under root."""\n'
        "    found = []\n"
        "    for folder, _, names in os.walk(root):\n"
        '        found += [os.path.join(folder, n) for n in names if n.endswith(".py")]\n'
        "    return sorted(found)  # ünïcode ✓\n"
    )
    assert count(snippet) == engine.count_tokens(snippet)
    assert count(snippet) < tokens.estimate(snippet) * 2
    assert count("") == engine.count_tokens("") == 0
