import pytest

from engine import fim


def test_psm_layout_puts_the_typed_line_after_the_middle_marker():
    p = fim.QWEN.build("def f():\n", "\nprint(f())\n", "    return ")
    assert p == ("<|fim_prefix|>def f():\n<|fim_suffix|>\nprint(f())\n<|fim_middle|>    return ")


def test_spm_layout_for_codestral():
    assert fim.CODESTRAL.build("P", "S") == "[SUFFIX]S[PREFIX]P"


def test_codellama_spacing():
    assert fim.CODELLAMA.build("a", "b") == "<PRE> a <SUF>b <MID>"


@pytest.mark.parametrize(
    ("tokens", "name", "arch", "expected"),
    [
        ({"<|fim_prefix|>", "<|file_sep|>"}, "", "qwen2", "qwen2.5-coder"),
        ({"<|fim_prefix|>", "<|file_separator|>"}, "", "gemma", "codegemma"),
        ({"<fim_prefix>"}, "", "starcoder2", "starcoder"),
        ({"<｜fim▁begin｜>"}, "", "llama", "deepseek-coder"),
        ({"[SUFFIX]", "[PREFIX]"}, "", "llama", "codestral"),
        ({"▁<PRE>"}, "", "llama", "codellama"),
        (set(), "CodeLlama 7B", "llama", "codellama"),
        (set(), "starcoder2-3b.Q4_K_M.gguf", "", "starcoder"),
        (set(), "deepseek-coder-1.3b", "", "deepseek-coder"),
    ],
)
def test_detection(tokens, name, arch, expected):
    t = fim.detect(tokens, name, arch)
    assert t is not None and t.name == expected


def test_unknown_model_is_not_guessed():
    assert fim.detect(set(), "my-private-model", "llama") is None


def test_by_name_and_aliases():
    assert fim.by_name("Qwen").name == "qwen2.5-coder"
    assert fim.by_name("starcoder2") is fim.STARCODER
    with pytest.raises(ValueError, match="known templates"):
        fim.by_name("gpt")


def test_custom_and_extra_stops():
    t = fim.custom("<p>", "<s>", "<m>", ("<eot>",))
    assert t.build("a", "b") == "<p>a<s>b<m>"
    assert fim.with_stop(t, ("###",)).stop_words == ("<eot>", "###")
    with pytest.raises(ValueError):
        fim.custom("a", "b", "c", order="xyz")
