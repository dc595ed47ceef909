"""The training-time FIM transform and packing (training/run/fim.py, data.py), with the
default model's real vocabulary (read from its GGUF) and real tokenizer (llama.cpp,
vocabulary only)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from engine.fim import QWEN
from engine.gguf import read_metadata
from training.errors import TrainingError
from training.run.data import sequences
from training.run.fim import FimSettings, template_for, transform

EOS = "<|endoftext|>"
DOCS = [Path(__file__).read_text(), *(p.read_text() for p in sorted(
    (Path(__file__).resolve().parents[3] / "engine").glob("f*.py")))]


@pytest.fixture(scope="module")
def vocabulary(model_path) -> set[str]:
    return set(read_metadata(model_path, want_tokens=True).tokens or ())


@pytest.fixture(scope="module")
def tokenize(model_path):
    from llama_cpp import Llama

    llm = Llama(str(model_path), vocab_only=True, verbose=False)
    return lambda text, special=False: llm.tokenize(text.encode(), add_bos=False, special=special)


def _parts(segments: list[tuple[str, bool]]) -> tuple[str, str, str, str]:
    """(order, prefix, middle, suffix) of a FIM example's segments."""
    marks = [text for text, special in segments if special]
    texts = [text for text, special in segments if not special]
    assert len(texts) == 3 and marks[-1] == EOS
    if marks[0] == QWEN.prefix:
        assert marks == [QWEN.prefix, QWEN.suffix, QWEN.middle, EOS]
        return "psm", texts[0], texts[2], texts[1]
    assert marks == [QWEN.suffix, QWEN.prefix, QWEN.middle, EOS]
    return "spm", texts[1], texts[2], texts[0]


def test_the_default_model_trains_with_its_own_fim_tokens(vocabulary):
    assert template_for(vocabulary, "default") == QWEN


def test_a_base_model_without_fim_tokens_is_refused_clearly(vocabulary):
    no_fim = vocabulary - {QWEN.prefix, QWEN.suffix, QWEN.middle}
    with pytest.raises(TrainingError, match="no fill-in-the-middle tokens"):
        template_for(no_fim, "chat-model.gguf")


def test_every_fim_example_puts_the_document_back_together():
    rng = random.Random(0)
    orders = []
    for i in range(200):
        text = DOCS[i % len(DOCS)]
        example = transform(text, QWEN, rng, FimSettings(rate=1.0, spm_rate=0.5), EOS)
        order, prefix, middle, suffix = _parts(example)
        assert prefix + middle + suffix == text
        orders.append(order)
    assert 70 <= orders.count("spm") <= 130  # about half


def test_the_rate_decides_how_many_documents_become_fim():
    rng = random.Random(1)
    plain = [transform("x = 1\n", QWEN, rng, FimSettings(rate=0.3), EOS) for _ in range(1000)]
    share = sum(len(e) == 2 for e in plain) / 1000
    assert 0.64 <= share <= 0.76
    assert transform("x = 1\n", QWEN, rng, FimSettings(rate=0.0), EOS) == [
        ("x = 1\n", False), (EOS, True)
    ]


def test_bad_fim_settings_are_refused():
    with pytest.raises(TrainingError, match="FIM rate"):
        FimSettings(rate=1.5)


def test_packing_gives_full_sequences_the_same_for_a_seed(tokenize):
    seqs = list(sequences(DOCS, tokenize, QWEN, EOS, length=256, seed=3))
    assert seqs and all(len(s) == 256 for s in seqs)
    assert seqs == list(sequences(DOCS, tokenize, QWEN, EOS, length=256, seed=3))
    assert seqs != list(sequences(DOCS, tokenize, QWEN, EOS, length=256, seed=3, epoch=1))
    flat = [t for s in seqs for t in s]
    # the markers are the model's single special tokens, not text spelled out
    for marker in (QWEN.prefix, QWEN.middle, EOS):
        (token,) = tokenize(marker, True)
        assert token in flat
    # engine/fim.py spells the markers out in strings: as text they are several tokens
    assert len(tokenize(QWEN.middle, False)) > 1
    total = sum(len(tokenize(d, False)) for d in DOCS)
    assert total - 256 < len(flat) <= total + 3 * 4 * len(DOCS)


def test_a_marker_spelled_out_in_a_file_stays_text(tokenize):
    doc = 'SEP = "<|fim_middle|>"  # a file that talks about the markers\n' * 40
    (middle,) = tokenize(QWEN.middle, True)
    plain = FimSettings(rate=0.0)
    flat = [t for s in sequences([doc], tokenize, QWEN, EOS, length=64, seed=0, fim=plain)
            for t in s]
    assert len(flat) >= 64 * 8
    assert middle not in flat
