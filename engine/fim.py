"""Fill-in-the-middle prompt templates and their detection.

A template is data: the marker strings, their order (prefix-suffix-middle or
suffix-prefix-middle) and the stop words that end a middle. ``REGISTRY`` is the one
list of named templates: ``model.fim_template``'s values, the docs and the messages
naming them come from it, and each entry carries the rules ``detect`` uses to pick
it from a model's vocabulary (the GGUF token list) or, failing that, its name.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping
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
    extra_stop: tuple[str, ...] = field(default=())
    # The model's repository format, where it has one (format strings): the header
    # that names the repository (``{name}``) and the one that starts each file
    # (``{path}``). Without ``file_header``, repository context goes into the prefix
    # as comments (``context_comments``) or not at all.
    repo_header: str = ""
    file_header: str = ""
    context_comments: bool = True

    @property
    def repo_format(self) -> bool:
        """Whether other files go before the FIM prompt in the model's own format."""
        return bool(self.file_header)

    def build(self, prefix: str, suffix: str, middle_head: str = "", context: str = "") -> str:
        """The prompt for filling the hole between ``prefix`` and ``suffix``.

        ``middle_head`` is text the model should continue (the part of the current
        line already typed); it goes after the middle marker so that everything
        before it stays byte-identical while the user types on one line.
        ``context`` is repository context already laid out for this template: in
        the repository format it comes first; as comments it starts the prefix.
        """
        head = context if self.repo_format else ""
        if not self.repo_format:
            prefix = context + prefix
        if self.order == "spm":
            return f"{head}{self.suffix}{suffix}{self.prefix}{prefix}{self.middle}{middle_head}"
        return f"{head}{self.prefix}{prefix}{self.suffix}{suffix}{self.middle}{middle_head}"

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
    repo_header="<|repo_name|>{name}\n",
    file_header="<|file_sep|>{path}\n",
)

STARCODER = FimTemplate(
    name="starcoder",
    prefix="<fim_prefix>",
    suffix="<fim_suffix>",
    middle="<fim_middle>",
    stop=("<|endoftext|>", "<file_sep>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>"),
    file_sep="<file_sep>",
    repo_header="<repo_name>{name}",
    file_header="<file_sep>{path}\n",
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
# Other files go to such servers apart (FimParts.extra); in the key they are marked too.
SERVER_SIDE = FimTemplate(
    name="server",
    prefix="\x00P",
    suffix="\x00S",
    middle="\x00M",
    file_header="\x00F{path}\n",
)


@dataclass(frozen=True)
class Registered:
    """A template in the registry and how to recognise its models.

    ``vocabulary(tokens, architecture)`` says whether a model's special tokens (and
    its GGUF ``general.architecture``) are this template's; ``names`` are lower-case
    pieces of a model's name (GGUF ``general.name``, file name, served model) that
    mean this template. ``rank`` orders detection (lower first, ties in registry
    order) where the rules of two templates could both match.
    """

    template: FimTemplate
    vocabulary: Callable[[Container[str], str], bool]
    names: tuple[str, ...] = ()
    rank: int = 100


def _has(*tokens: str) -> Callable[[Container[str], str], bool]:
    """The vocabulary holds every one of ``tokens``."""
    return lambda vocab, arch: all(t in vocab for t in tokens)


def _gemma_like(vocab: Container[str], arch: str) -> bool:
    return "gemma" in arch or "<|file_separator|>" in vocab


#: model.fim_template's values besides the registered names.
AUTO = "auto"
CUSTOM = "custom"

# The registry, in the order configuration and docs list the names. Adding a
# template is one entry here.
REGISTRY: dict[str, Registered] = {
    r.template.name: r
    for r in (
        Registered(
            QWEN,
            lambda vocab, arch: "<|fim_prefix|>" in vocab and not _gemma_like(vocab, arch),
            names=("qwen",),
            rank=0,
        ),
        Registered(STARCODER, _has("<fim_prefix>"), names=("starcoder", "santacoder"), rank=2),
        Registered(
            CODELLAMA,
            lambda vocab, arch: "▁<PRE>" in vocab or "<PRE>" in vocab,
            names=("codellama", "code-llama"),
            rank=5,
        ),
        Registered(DEEPSEEK, _has("<｜fim▁begin｜>"), names=("deepseek",), rank=3),
        Registered(CODESTRAL, _has("[SUFFIX]", "[PREFIX]"), names=("codestral",), rank=4),
        Registered(
            CODEGEMMA,
            lambda vocab, arch: "<|fim_prefix|>" in vocab and _gemma_like(vocab, arch),
            names=("codegemma",),
            rank=1,
        ),
    )
}


def register(entry: Registered) -> Registered:
    """Add a template to the registry (its name must be new, and not auto/custom)."""
    name = entry.template.name
    if name in REGISTRY or name in (AUTO, CUSTOM) or name != name.lower():
        raise ValueError(f"FIM template name {name!r} is taken or not lower-case")
    REGISTRY[name] = entry
    return entry


def names() -> tuple[str, ...]:
    """The registered template names, in registry order."""
    return tuple(REGISTRY)


def setting_choices() -> tuple[str, ...]:
    """The values ``model.fim_template`` accepts: auto, every registered name, custom."""
    return (AUTO, *REGISTRY, CUSTOM)


def _by_rank() -> list[Registered]:
    return sorted(REGISTRY.values(), key=lambda r: r.rank)  # stable: ties keep registry order


def by_name(name: str) -> FimTemplate:
    try:
        return REGISTRY[name.lower()].template
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise ValueError(f"unknown FIM template {name!r}; known templates: {known}") from None


def custom(
    prefix: str, suffix: str, middle: str, stop: tuple[str, ...] = (), order: str = "psm"
) -> FimTemplate:
    if order not in ("psm", "spm"):
        raise ValueError(f"FIM order must be 'psm' or 'spm', not {order!r}")
    return FimTemplate(
        name=CUSTOM,
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
    for entry in _by_rank():
        if entry.vocabulary(tokens, arch):
            return entry.template
    return detect_by_name(name)


def detect_from_gguf(
    tokens: Container[str], metadata: Mapping[str, object], file_name: str
) -> FimTemplate | None:
    """:func:`detect` for a GGUF model: its special tokens, ``general.name`` with the
    file name, and ``general.architecture``."""
    name = f"{metadata.get('general.name', '')} {file_name}"
    return detect(tokens, name, str(metadata.get("general.architecture", "")))


def detect_by_name(name: str) -> FimTemplate | None:
    n = name.lower()
    for entry in _by_rank():
        if any(needle in n for needle in entry.names):
            return entry.template
    return None


def with_stop(template: FimTemplate, extra: tuple[str, ...]) -> FimTemplate:
    return replace(template, extra_stop=tuple(extra))
