"""The layered loader and the admin policy.

Precedence, lowest to highest: defaults < user file < env < initializationOptions <
workspace settings. Nothing raises on bad input: problems are collected and the key
keeps the value from the lower layers. Keys marked ``workspace=False`` in the schema
are refused from workspace settings (the ``safecoder`` section pulled with
workspace/configuration or sent with workspace/didChangeConfiguration). An admin
policy file (``$SAFECODER_POLICY``, and ``/etc/safecoder/policy.toml`` whenever it
exists) is written like the user file; every key it sets is pinned: it beats all the
layers above, and a different value from any of them is reported and ignored.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from safecoder_lsp.config.schema import (
    ENV_NOT_KEYS,
    ENV_PREFIX,
    KEYS_BY_ENV,
    SECTION,
    SECTIONS,
    SOURCE_INIT,
    SOURCE_WORKSPACE,
    SPECS,
    Config,
    KeySpec,
)
from safecoder_lsp.config.validate import (
    KEYS_HINT,
    ConfigProblem,
    Invalid,
    coerce_value,
    expected,
    fix_for,
    parse_text,
    show,
    unknown_key,
)


@dataclass
class LoadResult:
    config: Config
    problems: list[ConfigProblem]
    #: ``{dotted key: source}`` for each key not at its default.
    origins: dict[str, str] = field(default_factory=dict)
    #: ``{dotted key: policy source}`` for each key an admin policy pins.
    pinned: dict[str, str] = field(default_factory=dict)


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
            if not table and section not in SECTIONS:
                problems.append(unknown_key(section, source))
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
        spec = SPECS.get(key)
        if spec is None:
            self.problems.append(unknown_key(key, source))
            return
        try:
            parsed = parse_text(spec, value) if from_text and isinstance(value, str) else value
            self.values[key] = coerce_value(spec, parsed)
        except Invalid:
            message = f"expected {expected(spec)}, got {show(value)}"
            self.problems.append(ConfigProblem(key, message, fix_for(spec, from_text), source))
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
            key = KEYS_BY_ENV.get(name)
            if key is not None:
                self.set(key, value, source, from_text=True)
                continue
            guess = difflib.get_close_matches(name, list(KEYS_BY_ENV), n=1, cutoff=0.75)
            fix = f"did you mean {guess[0]}? " if guess else ""
            fix += f"Otherwise unset it ({KEYS_HINT} with their variables)."
            self.problems.append(ConfigProblem(name, "unknown environment variable", fix, source))

    def client(self, data: Any, source: str, *, workspace: bool) -> None:
        if data is None or (isinstance(data, list) and not data):
            return  # nothing; Lua clients encode an empty table as []
        if not isinstance(data, Mapping):
            self.problems.append(
                ConfigProblem(
                    "",
                    f"expected an object of settings, got {show(data)}",
                    'send an object such as {"completion": {"max_tokens": 64}}.',
                    source,
                )
            )
            return
        for key, value in flatten(data).items():
            spec = SPECS.get(key)
            if spec is None:
                self.problems.append(unknown_key(key, source))
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
        return coerce_value(spec, value)
    except Invalid:
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
