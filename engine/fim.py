"""Fill-in-the-middle prompt templates and their detection.

A template is data: the marker strings, their order (prefix-suffix-middle or
suffix-prefix-middle) and the stop words that end a middle. ``detect`` picks one
from the model's vocabulary (the GGUF token list) or, failing that, its name.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field, replace
from typing import Literal


@dataclass(frozen=True)
class FimTemplate:
    name: str
    prefix: str
    suffix: str
    middle: str
    stop: tuple[str, ...] = ()
    order: Literal["psm", "spm"] = "psm"
    # Separator for repository-level context (other files), when the model has one.
    file_sep: str = ""
    # Text placed before the first file name/contents block; "" when unsupported.
    extra_stop: tuple[str, ...] = field(default=())

    def build(self, prefix: str, suffix: str, middle_head: str = "") -> str:
        """The prompt for filling the hole between ``prefix`` and ``suffix``.

        ``middle_head`` is text the model should continue (the part of the current
        line already typed); it goes after the middle marker so that everything
        before it stays byte-identical while the user types on one line.
        """
        if self.order == "spm":
            return f"{self.suffix}{suffix}{self.prefix}{prefix}{self.middle}{middle_head}"
        return f"{self.prefix}{prefix}{self.suffix}{suffix}{self.middle}{middle_head}"

    @property
    def stop_words(self) -> tuple[str, ...]:
        return self.stop + self.extra_stop

    @property
    def markers(self) -> tuple[str, ...]:
        return tuple(m.strip() for m in (self.prefix, self.suffix, self.middle) if m.strip())


QWEN = FimTemplate(
    name="qwen2.5-coder",
    prefix="<|fim_prefix|>",
    suffix="<|fim_suffix|>",
    middle="<|fim_middle|>",
    stop=(
        "<|endoftext|>",
        "<|fim_pad|>",
        "<|file_sep|>",
        "<|repo_name|>",
        "<|im_end|>",
        "<|fim_prefix|>",
        "<|fim_suffix|>",
        "<|fim_middle|>",
    ),
    file_sep="<|file_sep|>",
)

STARCODER = FimTemplate(
    name="starcoder",
    prefix="<fim_prefix>",
    suffix="<fim_suffix>",
    middle="<fim_middle>",
    stop=("<|endoftext|>", "<file_sep>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>"),
    file_sep="<file_sep>",
)

CODELLAMA = FimTemplate(
    name="codellama",
    prefix="<PRE> ",
    suffix=" <SUF>",
    middle=" <MID>",
    stop=("<EOT>", "</s>", "<PRE>", "<SUF>", "<MID>"),
)

DEEPSEEK = FimTemplate(
    name="deepseek-coder",
    prefix="<｜fim▁begin｜>",
    suffix="<｜fim▁hole｜>",
    middle="<｜fim▁end｜>",
    stop=("<｜end▁of▁sentence｜>", "<|EOT|>", "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"),
)

CODESTRAL = FimTemplate(
    name="codestral",
    prefix="[PREFIX]",
    suffix="[SUFFIX]",
    middle="",
    stop=("</s>", "[PREFIX]", "[SUFFIX]"),
    order="spm",
)

CODEGEMMA = FimTemplate(
    name="codegemma",
    prefix="<|fim_prefix|>",
    suffix="<|fim_suffix|>",
    middle="<|fim_middle|>",
    stop=("<|file_separator|>", "<eos>", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),
    file_sep="<|file_separator|>",
)

# For servers that build the FIM prompt themselves (llama.cpp /infill, Ollama's model
# templates): the prompt our pipeline builds then only keys the cache, and markers a
# document cannot contain (NUL) keep prefix, suffix and middle apart in it.
SERVER_SIDE = FimTemplate(name="server", prefix="\x00P", suffix="\x00S", middle="\x00M")

TEMPLATES: dict[str, FimTemplate] = {
    t.name: t for t in (QWEN, STARCODER, CODELLAMA, DEEPSEEK, CODESTRAL, CODEGEMMA)
}

# Aliases accepted in configuration.
ALIASES = {
    "qwen": "qwen2.5-coder",
    "qwen2.5": "qwen2.5-coder",
    "starcoder2": "starcoder",
    "santacoder": "starcoder",
    "deepseek": "deepseek-coder",
    "mistral": "codestral",
    "gemma": "codegemma",
}


def by_name(name: str) -> FimTemplate:
    key = ALIASES.get(name.lower(), name.lower())
    try:
        return TEMPLATES[key]
    except KeyError:
        known = ", ".join(sorted(TEMPLATES))
        raise ValueError(f"unknown FIM template {name!r}; known templates: {known}") from None


def custom(
    prefix: str, suffix: str, middle: str, stop: tuple[str, ...] = (), order: str = "psm"
) -> FimTemplate:
    if order not in ("psm", "spm"):
        raise ValueError(f"FIM order must be 'psm' or 'spm', not {order!r}")
    return FimTemplate(
        name="custom",
        prefix=prefix,
        suffix=suffix,
        middle=middle,
        stop=tuple(stop),
        order=order,  # type: ignore[arg-type]
    )


def detect(tokens: Container[str], name: str = "", architecture: str = "") -> FimTemplate | None:
    """Pick the template from the model's special tokens, then from its name.

    ``tokens`` is anything supporting ``in`` (a set of the vocabulary's strings).
    ``name`` is the GGUF ``general.name`` and/or the file name.
    """
    arch = architecture.lower()
    if "<|fim_prefix|>" in tokens:
        if "gemma" in arch or "<|file_separator|>" in tokens:
            return CODEGEMMA
        return QWEN
    if "<fim_prefix>" in tokens:
        return STARCODER
    if "<｜fim▁begin｜>" in tokens:
        return DEEPSEEK
    if "[SUFFIX]" in tokens and "[PREFIX]" in tokens:
        return CODESTRAL
    if "▁<PRE>" in tokens or "<PRE>" in tokens:
        return CODELLAMA
    return detect_by_name(name)


def detect_by_name(name: str) -> FimTemplate | None:
    n = name.lower()
    for needle, template in (
        ("qwen", QWEN),
        ("codegemma", CODEGEMMA),
        ("starcoder", STARCODER),
        ("santacoder", STARCODER),
        ("deepseek", DEEPSEEK),
        ("codestral", CODESTRAL),
        ("codellama", CODELLAMA),
        ("code-llama", CODELLAMA),
    ):
        if needle in n:
            return template
    return None


def with_stop(template: FimTemplate, extra: tuple[str, ...]) -> FimTemplate:
    return replace(template, extra_stop=tuple(extra))
