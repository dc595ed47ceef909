"""The embedded llama.cpp engine on the real default model."""

import shutil
import threading

import pytest

from engine.base import CancelToken, EngineError, GenerationRequest, StopReason, generate_text
from engine.fim import QWEN
from engine.llama_model import Utf8Decoder
from engine.llamacpp import LlamaCppEngine

pytestmark = pytest.mark.model

ADD = QWEN.build("def add(a, b):\n", "\n\nprint(add(1, 2))\n", "    return ")


def test_detects_qwen_fim_template_from_the_vocabulary(engine):
    assert engine.fim_template is not None
    assert engine.fim_template.name == "qwen2.5-coder"
    info = engine.info()
    assert info.kind == "llamacpp" and info.n_ctx == 2048
    assert "qwen" in info.details["architecture"]


def test_fim_completion_is_sensible(engine):
    text = generate_text(engine, GenerationRequest(ADD, max_tokens=16, stop=("\n",), heal=True))
    assert text.startswith("a + b")
    assert engine.last_stats.stop_reason in (StopReason.STOP_WORD, StopReason.END_OF_TEXT)


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ("    return fib(n - 1) + fi", "b(n - 2)"),  # the cursor cuts the token "fib"
        ("    return n ", "% 2"),  # a trailing space is its own token: no double space
    ],
)
def test_token_healing_completes_a_cut_token(engine, head, expected):
    before = (
        "def fib(n):\n    if n < 2:\n        return n\n" if "fib" in head else "def is_even(n):\n"
    )
    prompt = QWEN.build(before, "\n", head)
    healed = generate_text(
        engine, GenerationRequest(prompt, max_tokens=12, stop=("\n",), heal=True)
    )
    assert healed.startswith(expected)
    assert engine.last_stats.generated_tokens >= 2  # the healed token plus the rest


def test_healing_typed_indentation_adds_no_whitespace(engine):
    # HumanEval/32 (find_zero) with the body of an if emptied and its indentation typed:
    # healed after the middle marker, the model went on with whitespace to the end.
    before = (
        "def find_zero(xs):\n    begin, end = -1.0, 1.0\n    while end - begin > 1e-10:\n"
        "        center = (begin + end) / 2.0\n"
        "        if poly(xs, center) * poly(xs, begin) > 0:\n"
    )
    after = "\n        else:\n            end = center\n    return begin\n"
    prompt = QWEN.build(before, after, " " * 12)
    healed = generate_text(engine, GenerationRequest(prompt, max_tokens=8, heal=True))
    assert healed[:1].strip(), repr(healed)  # code right after the typed indentation


def test_max_tokens_and_stats(engine):
    generate_text(engine, GenerationRequest(ADD, max_tokens=2))
    st = engine.last_stats
    assert st.generated_tokens == 2
    assert st.stop_reason is StopReason.MAX_TOKENS
    assert st.prompt_tokens == len(engine.tokenize(ADD))


def test_time_budget_stops_generation(engine):
    generate_text(engine, GenerationRequest(ADD, max_tokens=200, time_budget_s=0.0))
    assert engine.last_stats.stop_reason is StopReason.TIME_BUDGET
    assert engine.last_stats.generated_tokens == 1


def test_caller_predicate_stops_early(engine):
    text = generate_text(
        engine, GenerationRequest(ADD, max_tokens=50, should_stop=lambda t: len(t) >= 1)
    )
    assert engine.last_stats.stop_reason is StopReason.CALLER
    assert len(text) >= 1 and engine.last_stats.generated_tokens == 1


def test_kv_cache_prefix_is_reused_between_consecutive_requests(engine):
    generate_text(engine, GenerationRequest(ADD, max_tokens=1))
    longer = ADD + "a"
    generate_text(engine, GenerationRequest(longer, max_tokens=1))
    st = engine.last_stats
    assert st.reused_tokens >= st.prompt_tokens - 3
    assert st.evaluated_tokens <= 3


def test_cached_prefix_counts_the_prompt_tokens_the_cache_holds(engine):
    engine.prefill(ADD, CancelToken())
    tokens = engine.tokenize(ADD)
    assert engine.cached_prefix(ADD) == len(tokens)
    # it holds the start (the last token may merge with what follows it)
    assert engine.cached_prefix(ADD + "a + b") >= len(tokens) - 1
    changed = QWEN.build("def add(a, c):\n", "\n\nprint(add(1, 2))\n", "    return ")
    pairs = zip(tokens, engine.tokenize(changed), strict=False)
    common = next(i for i, (a, b) in enumerate(pairs) if a != b)
    assert engine.cached_prefix(changed) == common
    assert engine.cached_prefix("something else") == 0


def test_cancel_between_tokens(engine):
    cancel = CancelToken()
    pieces = []
    for piece in engine.stream(GenerationRequest(ADD, max_tokens=100), cancel):
        pieces.append(piece)
        cancel.cancel()
    assert engine.last_stats.stop_reason is StopReason.CANCELLED
    assert engine.last_stats.generated_tokens == 1
    assert len(pieces) == 1


def test_cancel_during_prompt_evaluation_stops_between_chunks(engine):
    body = "".join(f"def f{i}(x):\n    return x * {i} + {i * 7}\n\n" for i in range(80))
    prompt = QWEN.build(body, "", "")
    assert len(engine.tokenize(prompt)) > 1000
    cancel = CancelToken()
    timer = threading.Timer(0.2, cancel.cancel)
    timer.start()
    out = generate_text(engine, GenerationRequest(prompt, max_tokens=50), cancel)
    timer.join()
    st = engine.last_stats
    assert out == ""
    assert st.stop_reason is StopReason.CANCELLED
    assert st.generated_tokens == 0
    # The work done before the cancel stays in the KV cache for the next request.
    generate_text(engine, GenerationRequest(prompt, max_tokens=1))
    assert engine.last_stats.reused_tokens > 0


def test_prompt_larger_than_the_context_is_a_clear_error(engine):
    prompt = "x = 1\n" * 3000
    with pytest.raises(EngineError, match="context holds 2048"):
        generate_text(engine, GenerationRequest(prompt, max_tokens=4))


def test_utf8_decoder_holds_split_sequences():
    d = Utf8Decoder()
    data = "é中😀".encode()
    out = "".join(d.feed(data[i : i + 1]) for i in range(len(data)))
    assert out + d.flush() == "é中😀"


def test_missing_model_says_how_to_fix(tmp_path):
    with pytest.raises(EngineError) as err:
        LlamaCppEngine(tmp_path / "nope.gguf")
    assert "model pull" in err.value.hint


def test_not_a_gguf_is_rejected(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"PK\x03\x04 this is a zip, not a model" * 10)
    with pytest.raises(EngineError, match="not a GGUF"):
        LlamaCppEngine(bad)


def test_truncated_model_is_rejected_before_llama_cpp_reads_it(tmp_path, model_path):
    cut = tmp_path / "cut.gguf"
    with open(model_path, "rb") as src, open(cut, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
        dst.truncate(50 << 20)
    with pytest.raises(EngineError, match="truncated"):
        LlamaCppEngine(cut)


def test_tokens_longer_than_32_bytes_keep_their_text(engine):
    # Qwen has single tokens for runs of spaces and long "#-----" rules; a 32-byte
    # buffer (llama-cpp-python's helpers) turned them into nothing.
    text = "#" + "-" * 76 + "\n" + " " * 48 + "x = 1\n"
    tokens = engine._llm.tokenize(text.encode(), add_bos=False, special=False)
    pieces = [engine._vocab.piece(t) for t in tokens]
    assert any(len(p) > 32 for p in pieces)
    assert b"".join(pieces).decode() == text
