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


def test_by_name_takes_the_registered_names_in_any_case():
    # The names config accepts (it canonicalises their case); the aliases it never
    # accepted are gone (issue 13).
    assert fim.by_name("Qwen2.5-Coder") is fim.QWEN
    assert fim.by_name("starcoder") is fim.STARCODER
    for name in fim.names():
        assert fim.by_name(name).name == name
    for gone in ("qwen", "starcoder2", "santacoder", "deepseek", "mistral", "gemma", "gpt"):
        with pytest.raises(ValueError, match="known templates"):
            fim.by_name(gone)


def test_the_registry_is_the_config_choices():
    assert fim.names() == (
        "qwen2.5-coder",
        "starcoder",
        "codellama",
        "deepseek-coder",
        "codestral",
        "codegemma",
    )
    assert fim.setting_choices() == ("auto", *fim.names(), "custom")


@pytest.mark.parametrize(
    ("tokens", "arch", "expected"),
    [
        # one vocabulary holding several families: the old if-chain's order holds
        ({"<|fim_prefix|>", "<fim_prefix>", "[SUFFIX]", "[PREFIX]", "<PRE>"}, "", "qwen2.5-coder"),
        ({"<|fim_prefix|>", "<fim_prefix>"}, "gemma", "codegemma"),
        ({"<fim_prefix>", "<｜fim▁begin｜>", "<PRE>"}, "", "starcoder"),
        ({"<｜fim▁begin｜>", "[SUFFIX]", "[PREFIX]", "<PRE>"}, "", "deepseek-coder"),
        ({"[SUFFIX]", "[PREFIX]", "<PRE>"}, "", "codestral"),
        ({"[SUFFIX]", "<PRE>"}, "", "codellama"),
        ({"<PRE>"}, "", "codellama"),
    ],
)
def test_detection_order_between_families(tokens, arch, expected):
    assert fim.detect(tokens, "", arch).name == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("qwen-codegemma", "qwen2.5-coder"),
        ("codegemma-starcoder", "codegemma"),
        ("santacoder-deepseek", "starcoder"),
        ("deepseek-codestral", "deepseek-coder"),
        ("codestral-codellama", "codestral"),
        ("Code-Llama-7b", "codellama"),
    ],
)
def test_detection_by_name_order(name, expected):
    assert fim.detect_by_name(name).name == expected


def test_detection_from_gguf_metadata():
    meta = {"general.name": "StarCoder2 3B", "general.architecture": "starcoder2"}
    assert fim.detect_from_gguf(set(), meta, "model.gguf") is fim.STARCODER
    meta = {"general.architecture": "gemma"}
    assert fim.detect_from_gguf({"<|fim_prefix|>"}, meta, "x.gguf") is fim.CODEGEMMA
    assert fim.detect_from_gguf(set(), {}, "qwen2.5-coder-1.5b-q4.gguf") is fim.QWEN
    assert fim.detect_from_gguf(set(), {}, "mine.gguf") is None


def test_a_registered_template_is_named_and_detected(monkeypatch):
    monkeypatch.setattr(fim, "REGISTRY", dict(fim.REGISTRY))
    toy = fim.FimTemplate(name="toy", prefix="<P>", suffix="<S>", middle="<M>")
    fim.register(fim.Registered(toy, lambda vocab, arch: "<P>" in vocab, names=("toycoder",)))
    assert fim.by_name("toy") is toy and "toy" in fim.names()
    assert fim.setting_choices()[-2:] == ("toy", "custom")
    assert fim.detect({"<P>"}) is toy and fim.detect(set(), "ToyCoder-1B") is toy
    assert fim.detect({"<P>", "<|fim_prefix|>"}) is fim.QWEN  # built-ins rank first
    for taken in ("toy", "auto", "custom", "Upper"):
        with pytest.raises(ValueError, match="taken"):
            fim.register(fim.Registered(fim.FimTemplate(taken, "a", "b", "c"), lambda v, a: False))


def test_custom_and_extra_stops():
    t = fim.custom("<p>", "<s>", "<m>", ("<eot>",))
    assert t.build("a", "b") == "<p>a<s>b<m>"
    assert fim.with_stop(t, ("###",)).stop_words == ("<eot>", "###")
    with pytest.raises(ValueError):
        fim.custom("a", "b", "c", order="xyz")


def test_the_registry_says_which_templates_have_a_repository_format():
    with_format = {name for name, r in fim.REGISTRY.items() if r.template.repo_format}
    assert with_format == {"qwen2.5-coder", "starcoder"}
    assert fim.QWEN.repo_header == "<|repo_name|>{name}\n"
    assert fim.QWEN.file_header == "<|file_sep|>{path}\n"
    assert fim.SERVER_SIDE.repo_format  # the snippets are part of its cache key
    assert all(r.template.context_comments for r in fim.REGISTRY.values())


def test_context_goes_first_in_the_repository_format_and_into_the_prefix_otherwise():
    ctx = "<|repo_name|>r\n<|file_sep|>a.py\nx = 1\n<|file_sep|>b.py\n"
    assert fim.QWEN.build("p\n", "s", "h", ctx) == (
        ctx + "<|fim_prefix|>p\n<|fim_suffix|>s<|fim_middle|>h"
    )
    assert fim.QWEN.build("p\n", "s", "h") == "<|fim_prefix|>p\n<|fim_suffix|>s<|fim_middle|>h"
    assert fim.DEEPSEEK.build("p\n", "s", "h", "# c\n") == (
        "<｜fim▁begin｜># c\np\n<｜fim▁hole｜>s<｜fim▁end｜>h"
    )
    assert fim.CODESTRAL.build("p\n", "s", "h", "// c\n") == "[SUFFIX]s[PREFIX]// c\np\nh"
