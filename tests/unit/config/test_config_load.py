"""Typed configuration: the layers and their precedence, parsing, the problems reported,
workspace settings and the admin policy (safecoder_lsp/config/load.py, validate.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.config_cases import EXPECTED_DEFAULTS, NOT_FROM_WORKSPACE, load, only, toml_file

from safecoder_lsp import config as cfgmod
from safecoder_lsp.config import (
    DEFAULT_ALLOWED_LICENSES,
    Config,
    ConfigProblem,
    coerce,
    config_keys,
    flatten,
    load_config,
)


def test_defaults_without_any_source():
    result = load()
    assert result.problems == []
    assert result.origins == {}
    assert result.config == Config()
    flat = result.config.as_flat_dict()
    assert flat == {key: default for key, (_, default) in EXPECTED_DEFAULTS.items()}
    assert Config().attribution.allowed_licenses == DEFAULT_ALLOWED_LICENSES


# -- the layers -------------------------------------------------------------------------
def test_user_file_layer(tmp_path):
    path = toml_file(
        tmp_path,
        """
[model]
path = "/models/m.gguf"
fim_stop = ["<|end|>", "\\n\\n"]

[engine]
n_gpu_layers = -1

[completion]
max_tokens = 96
temperature = 1     # an integer is fine for a float key
enabled = false

[log]
level = "debug"
""",
    )
    result = load(user_file=path)
    assert result.problems == []
    c = result.config
    assert c.model.path == "/models/m.gguf"
    assert c.model.fim_stop == ("<|end|>", "\n\n")
    assert c.engine.n_gpu_layers == -1
    assert c.completion.max_tokens == 96
    assert c.completion.temperature == 1.0 and isinstance(c.completion.temperature, float)
    assert c.completion.enabled is False
    assert c.log.level == "debug"
    assert result.origins["completion.max_tokens"] == f"user file {path}"


def test_user_file_dotted_keys_in_toml(tmp_path):
    path = toml_file(tmp_path, 'completion.max_tokens = 12\n"log.level" = "error"\n')
    result = load(user_file=path)
    assert result.problems == []
    assert result.config.completion.max_tokens == 12
    assert result.config.log.level == "error"


def test_user_file_from_safecoder_config_env(tmp_path):
    path = toml_file(tmp_path, "[completion]\nmax_tokens = 7\n", name="elsewhere.toml")
    result = load_config(env={"SAFECODER_CONFIG": str(path)})
    assert result.problems == []
    assert result.config.completion.max_tokens == 7


def test_user_file_default_location(tmp_path, monkeypatch):
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_config_dir", lambda appname: str(tmp_path / appname))
    (tmp_path / "safecoder").mkdir()
    toml_file(tmp_path / "safecoder", "[engine]\nn_ctx = 8192\n")
    assert cfgmod.user_config_path({}) == tmp_path / "safecoder" / "config.toml"
    result = load_config(env={})
    assert result.problems == []
    assert result.config.engine.n_ctx == 8192


def test_missing_default_user_file_is_not_a_problem(tmp_path, monkeypatch):
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_config_dir", lambda appname: str(tmp_path / "none"))
    assert load_config(env={}).problems == []
    assert load(user_file=tmp_path / "absent.toml").problems == []


def test_missing_file_named_by_safecoder_config_is_reported(tmp_path):
    missing = tmp_path / "typo.toml"
    p = only(load_config(env={"SAFECODER_CONFIG": str(missing)}).problems)
    assert str(missing) in str(p) and "SAFECODER_CONFIG" in str(p)


def test_env_layer():
    result = load(env={"SAFECODER_COMPLETION_MAX_TOKENS": "32", "PATH": "/bin", "HOME": "/h"})
    assert result.problems == []
    assert result.config.completion.max_tokens == 32
    assert result.origins == {"completion.max_tokens": "env SAFECODER_COMPLETION_MAX_TOKENS"}


def test_env_defaults_to_os_environ(monkeypatch):
    monkeypatch.setenv("SAFECODER_COMPLETION_CACHE_SIZE", "9")
    assert load_config(user_file=None).config.completion.cache_size == 9


def test_init_options_layer():
    result = load(init_options={"completion": {"max_tokens": 16}})
    assert result.problems == []
    assert result.config.completion.max_tokens == 16
    assert result.origins == {"completion.max_tokens": "initializationOptions"}


def test_workspace_settings_layer():
    result = load(workspace_settings={"completion": {"multiline": "never"}})
    assert result.problems == []
    assert result.config.completion.multiline == "never"
    assert result.origins == {"completion.multiline": "workspace settings"}


@pytest.mark.parametrize(
    "settings",
    [
        {"completion": {"max_tokens": 64, "stop": ["\n\n"]}, "log": {"level": "debug"}},
        {"completion.max_tokens": 64, "completion.stop": ["\n\n"], "log.level": "debug"},
        {"safecoder": {"completion": {"max_tokens": 64, "stop": ["\n\n"]}, "log.level": "debug"}},
        {
            "safecoder": {
                "completion.max_tokens": 64,
                "completion.stop": ["\n\n"],
                "log.level": "debug",
            }
        },
        {
            "safecoder.completion.max_tokens": 64,
            "safecoder.completion.stop": ["\n\n"],
            "safecoder.log.level": "debug",
        },
        # A client that sends all of its settings: other tools' sections are not ours.
        {"safecoder": {"completion": {"max_tokens": 64, "stop": ["\n\n"]}, "log.level": "debug"}}
        | {"python": {"analysis": {"typeCheckingMode": "strict"}}, "editor.tabSize": 4},
    ],
    ids=["nested", "dotted", "wrapped-nested", "wrapped-dotted", "prefixed", "wrapped-others"],
)
@pytest.mark.parametrize("layer", ["init_options", "workspace_settings"])
def test_client_forms(settings, layer):
    result = load(**{layer: settings})
    assert result.problems == []
    c = result.config
    assert (c.completion.max_tokens, c.completion.stop, c.log.level) == (64, ("\n\n",), "debug")


def test_flatten_forms():
    assert flatten({"completion": {"max_tokens": 1}}) == {"completion.max_tokens": 1}
    assert flatten({"safecoder": {"completion.max_tokens": 1}}) == {"completion.max_tokens": 1}
    assert flatten({"completion": 5}) == {"completion": 5}


# -- precedence -------------------------------------------------------------------------
LAYERS = ["user file", "env", "initializationOptions", "workspace settings"]


def _layers(tmp_path: Path, present: set[str]) -> dict[str, Any]:
    """Each present layer sets completion.max_tokens to its own value (1..4)."""
    kwargs: dict[str, Any] = {"user_file": None, "env": {}}
    if "user file" in present:
        kwargs["user_file"] = toml_file(tmp_path, "[completion]\nmax_tokens = 1\n")
    if "env" in present:
        kwargs["env"] = {"SAFECODER_COMPLETION_MAX_TOKENS": "2"}
    if "initializationOptions" in present:
        kwargs["init_options"] = {"completion": {"max_tokens": 3}}
    if "workspace settings" in present:
        kwargs["workspace_settings"] = {"completion.max_tokens": 4}
    return kwargs


@pytest.mark.parametrize(
    "present,expected",
    [
        (set(), 64),
        ({"user file"}, 1),
        ({"env"}, 2),
        ({"initializationOptions"}, 3),
        ({"workspace settings"}, 4),
        ({"user file", "env"}, 2),
        ({"user file", "initializationOptions"}, 3),
        ({"env", "initializationOptions"}, 3),
        ({"user file", "env", "initializationOptions"}, 3),
        ({"initializationOptions", "workspace settings"}, 4),
        (set(LAYERS), 4),
    ],
)
def test_precedence(tmp_path, present, expected):
    result = load_config(**_layers(tmp_path, present))
    assert result.problems == []
    assert result.config.completion.max_tokens == expected


def test_layers_merge_per_key(tmp_path):
    path = toml_file(tmp_path, "[completion]\nmax_tokens = 1\nprefix_tokens = 100\n")
    result = load_config(
        user_file=path,
        env={"SAFECODER_COMPLETION_SUFFIX_TOKENS": "50", "SAFECODER_COMPLETION_MAX_TOKENS": "2"},
        init_options={"completion": {"cache_size": 0}},
        workspace_settings={"completion": {"temperature": 0.2}},
    )
    c = result.config.completion
    assert (c.max_tokens, c.prefix_tokens, c.suffix_tokens, c.cache_size, c.temperature) == (
        2,
        100,
        50,
        0,
        0.2,
    )
    assert result.origins == {
        "completion.max_tokens": "env SAFECODER_COMPLETION_MAX_TOKENS",
        "completion.prefix_tokens": f"user file {path}",
        "completion.suffix_tokens": "env SAFECODER_COMPLETION_SUFFIX_TOKENS",
        "completion.cache_size": "initializationOptions",
        "completion.temperature": "workspace settings",
    }


# -- env parsing ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "var,text,expected",
    [
        ("SAFECODER_COMPLETION_ENABLED", "false", False),
        ("SAFECODER_COMPLETION_ENABLED", "0", False),
        ("SAFECODER_COMPLETION_ENABLED", "no", False),
        ("SAFECODER_COMPLETION_ENABLED", "OFF", False),
        ("SAFECODER_COMPLETION_SKIP_IN_COMMENTS", "true", True),
        ("SAFECODER_COMPLETION_SKIP_IN_COMMENTS", "1", True),
        ("SAFECODER_COMPLETION_SKIP_IN_COMMENTS", "Yes", True),
        ("SAFECODER_COMPLETION_SKIP_IN_COMMENTS", " on ", True),
        ("SAFECODER_COMPLETION_MAX_TOKENS", "128", 128),
        ("SAFECODER_COMPLETION_MAX_TOKENS", " 128\n", 128),
        ("SAFECODER_ENGINE_N_GPU_LAYERS", "-1", -1),
        ("SAFECODER_COMPLETION_TEMPERATURE", "0.25", 0.25),
        ("SAFECODER_COMPLETION_TEMPERATURE", "1", 1.0),
        ("SAFECODER_COMPLETION_STOP", "END, ###,,  //", ("END", "###", "//")),
        ("SAFECODER_COMPLETION_STOP", '["\\n\\n", "a,b"]', ("\n\n", "a,b")),
        ("SAFECODER_COMPLETION_STOP", "", ()),
        ("SAFECODER_ATTRIBUTION_ALLOWED_LICENSES", "MIT,Apache-2.0", ("MIT", "Apache-2.0")),
        ("SAFECODER_MODEL_PATH", "/models/my model.gguf", "/models/my model.gguf"),
        ("SAFECODER_LOG_FILE", "", ""),
        ("SAFECODER_LOG_LEVEL", "DEBUG", "debug"),
        ("SAFECODER_ENGINE_KIND", "llamacpp-infill", "llamacpp-infill"),
        ("SAFECODER_MODEL_FIM_TEMPLATE", "qwen2.5-coder", "qwen2.5-coder"),
    ],
)
def test_env_parsing(var, text, expected):
    result = load(env={var: text})
    assert result.problems == []
    key = next(s.key for s in config_keys() if s.env == var)
    value = result.config.get(key)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    "var,text,expected_words",
    [
        ("SAFECODER_COMPLETION_ENABLED", "maybe", "true or false"),
        ("SAFECODER_COMPLETION_MAX_TOKENS", "lots", "an integer from 1 to 2048"),
        ("SAFECODER_COMPLETION_MAX_TOKENS", "1.5", "an integer from 1 to 2048"),
        ("SAFECODER_COMPLETION_MAX_TOKENS", "0", "an integer from 1 to 2048"),
        ("SAFECODER_COMPLETION_MAX_TOKENS", "4096", "an integer from 1 to 2048"),
        ("SAFECODER_ENGINE_N_GPU_LAYERS", "-2", "an integer of at least -1"),
        ("SAFECODER_COMPLETION_TEMPERATURE", "hot", "a number from 0 to 2"),
        ("SAFECODER_COMPLETION_TEMPERATURE", "nan", "a number from 0 to 2"),
        ("SAFECODER_COMPLETION_TEMPERATURE", "2.5", "a number from 0 to 2"),
        ("SAFECODER_COMPLETION_STOP", "[1, 2]", "a list of strings"),
        ("SAFECODER_COMPLETION_STOP", "[not json", "a list of strings"),
        ("SAFECODER_COMPLETION_MULTILINE", "sometimes", "one of auto, always, never"),
        ("SAFECODER_LOG_LEVEL", "verbose", "one of debug, info, warning, error"),
    ],
)
def test_env_bad_values_reported_and_default_kept(var, text, expected_words):
    result = load(env={var: text})
    p = only(result.problems)
    key = next(s.key for s in config_keys() if s.env == var)
    assert p.key == key
    assert p.source == f"env {var}"
    assert expected_words in p.message
    assert json.dumps(text) in p.message  # the bad value, quoted
    assert p.fix.startswith("set it to")
    assert result.config.get(key) == Config().get(key)
    assert key not in result.origins


def test_problem_line_golden():
    p = only(load(env={"SAFECODER_COMPLETION_MAX_TOKENS": "lots"}).problems)
    assert str(p) == (
        'completion.max_tokens: expected an integer from 1 to 2048, got "lots" '
        "(from env SAFECODER_COMPLETION_MAX_TOKENS). Fix: set it to a number such as 64."
    )


def test_env_variables_that_are_not_keys():
    env = {
        "SAFECODER_MODEL_DIR": "/models",
        "SAFECODER_POLICY": "/etc/safecoder/policy.toml",
        "SAFECODER_COMPLETION_MAXTOKENS": "3",
        "SAFECODER": "x",
        "safecoder_log_level": "debug",  # not our prefix (case matters)
        "OTHER_VAR": "1",
    }
    result = load(env=env)
    assert {p.key for p in result.problems} == {"SAFECODER_COMPLETION_MAXTOKENS"}
    p = only(result.problems)
    assert p.source == "env SAFECODER_COMPLETION_MAXTOKENS"
    assert "unknown" in p.message
    assert "SAFECODER_COMPLETION_MAX_TOKENS" in p.fix
    assert result.config == Config()


# -- unknown keys in every layer ----------------------------------------------------------
@pytest.mark.parametrize("layer", LAYERS)
def test_unknown_key_reported_with_its_source(tmp_path, layer):
    kwargs: dict[str, Any] = {"user_file": None, "env": {}}
    if layer == "user file":
        path = toml_file(tmp_path, "[completion]\nmax_tokns = 5\nmax_tokens = 5\n")
        kwargs["user_file"] = path
        source = f"user file {path}"
        key = "completion.max_tokns"
    elif layer == "env":
        kwargs["env"] = {
            "SAFECODER_COMPLETION_MAX_TOKNS": "5",
            "SAFECODER_COMPLETION_MAX_TOKENS": "5",
        }
        source = "env SAFECODER_COMPLETION_MAX_TOKNS"
        key = "SAFECODER_COMPLETION_MAX_TOKNS"
    elif layer == "initializationOptions":
        kwargs["init_options"] = {"completion": {"max_tokns": 5, "max_tokens": 5}}
        source = "initializationOptions"
        key = "completion.max_tokns"
    else:
        kwargs["workspace_settings"] = {"completion.max_tokns": 5, "completion.max_tokens": 5}
        source = "workspace settings"
        key = "completion.max_tokns"
    result = load_config(**kwargs)
    p = only(result.problems)
    assert (p.key, p.source) == (key, source)
    assert "unknown" in p.message
    assert "MAX_TOKENS" in p.fix.upper()  # the likely intended key is suggested
    assert (key in str(p) and source in str(p)) or p.source == f"env {p.key}"
    assert result.config.completion.max_tokens == 5  # the rest of the layer applies


@pytest.mark.parametrize(
    "key,suggestion",
    [
        ("max_tokens", "completion.max_tokens"),  # right name, missing section
        ("completion.max_token", "completion.max_tokens"),
        ("complection.max_tokens", "completion.max_tokens"),
        ("log.levle", "log.level"),
        ("model", "model.path"),  # a section given a value
    ],
)
def test_unknown_key_suggestions(key, suggestion):
    p = only(load(init_options={key: 1}).problems)
    assert p.key == key
    assert suggestion in p.fix


def test_unknown_key_without_a_likely_match():
    p = only(load(init_options={"completion": {"bogus": 1}}).problems)
    assert p.key == "completion.bogus"
    assert "did you mean" not in p.fix and "remove it" in p.fix


def test_unknown_toml_sections_and_top_level_keys(tmp_path):
    path = toml_file(tmp_path, "max_tokens = 5\n[nonsense]\n[completions]\nmax_tokens = 5\n")
    result = load(user_file=path)
    assert {p.key for p in result.problems} == {"max_tokens", "nonsense", "completions.max_tokens"}
    assert all(p.source == f"user file {path}" for p in result.problems)
    assert result.config == Config()


# -- wrong types and ranges keep the lower-layer value -------------------------------------
@pytest.mark.parametrize(
    "key,bad",
    [
        ("completion.max_tokens", "lots"),
        ("completion.max_tokens", 0),
        ("completion.max_tokens", 2049),
        ("completion.max_tokens", True),
        ("completion.max_tokens", 1.5),
        ("completion.max_tokens", [64]),
        ("completion.enabled", "true"),
        ("completion.enabled", 1),
        ("completion.temperature", "0.5"),
        ("completion.temperature", -0.1),
        ("completion.stop", "END"),
        ("completion.stop", ["ok", 3]),
        ("completion.multiline", "yes"),
        ("completion.multiline", 1),
        ("model.path", 42),
        ("model.path", {"nested": "x"}),
        ("completion.prefix_tokens", 8),
        ("log.level", "trace"),
    ],
)
@pytest.mark.parametrize("layer", ["init_options", "workspace_settings"])
def test_bad_client_value_keeps_lower_layer(tmp_path, key, bad, layer):
    good = {
        "completion.max_tokens": 100,
        "completion.enabled": False,
        "completion.temperature": 0.3,
        "completion.stop": ["END"],
        "completion.multiline": "never",
        "model.path": "/m.gguf",
        "completion.prefix_tokens": 2048,
        "log.level": "debug",
    }[key]
    section, _, name = key.partition(".")
    path = toml_file(tmp_path, f"[{section}]\n{name} = {json.dumps(good)}\n")
    result = load(user_file=path, **{layer: {key: bad}})
    p = only(result.problems)
    assert p.key == key
    assert p.source == {"init_options": "initializationOptions"}.get(layer, "workspace settings")
    assert p.message.startswith("expected ")
    assert "got " + json.dumps(bad) in p.message
    assert p.fix.startswith("set it to")
    expected = tuple(good) if isinstance(good, list) else good
    assert result.config.get(key) == expected
    assert result.origins[key] == f"user file {path}"


def test_bad_engine_value_from_init_options_keeps_lower_layer(tmp_path):
    # engine.* keys are refused from workspace settings before their value is looked
    # at (test_security_key_rejected_from_workspace_settings); initializationOptions
    # are checked like any layer.
    path = toml_file(tmp_path, "[engine]\nn_ctx = 2048\n")
    result = load(user_file=path, init_options={"engine.n_ctx": 100})
    p = only(result.problems)
    assert (p.key, p.source) == ("engine.n_ctx", "initializationOptions")
    assert p.message.startswith("expected ") and "got 100" in p.message
    assert p.fix.startswith("set it to")
    assert result.config.engine.n_ctx == 2048
    assert result.origins["engine.n_ctx"] == f"user file {path}"


@pytest.mark.parametrize(
    "line,key,words",
    [
        ("[completion]\nmax_tokens = 99999", "completion.max_tokens", "from 1 to 2048"),
        ('[completion]\nmax_tokens = "64"', "completion.max_tokens", "an integer"),
        ("[engine]\nn_batch = 8", "engine.n_batch", "from 16 to 8192"),
        ('[completion]\nenabled = "yes"', "completion.enabled", "true or false"),
        ("[model]\nfim_stop = 1", "model.fim_stop", "a list of strings"),
        ('[attribution]\naction = "warn"', "attribution.action", "one of annotate, block, off"),
        ("[log]\nfile = 1979-05-27", "log.file", "a string"),
    ],
)
def test_bad_user_file_value(tmp_path, line, key, words):
    path = toml_file(tmp_path, line + "\n")
    result = load(user_file=path)
    p = only(result.problems)
    assert (p.key, p.source) == (key, f"user file {path}")
    assert words in p.message
    assert result.config == Config()


def test_int_like_float_is_accepted_for_an_int_key():
    result = load(init_options={"completion.max_tokens": 64.0})
    assert result.problems == []
    assert result.config.completion.max_tokens == 64
    assert type(result.config.completion.max_tokens) is int


def test_choices_are_case_insensitive_and_canonical():
    result = load(init_options={"log.level": "WARNING", "model.fim_template": "StarCoder"})
    assert result.problems == []
    assert (result.config.log.level, result.config.model.fim_template) == ("warning", "starcoder")


def test_null_values_from_clients_mean_not_set():
    result = load(
        env={"SAFECODER_COMPLETION_MAX_TOKENS": "5"},
        init_options={"completion": {"max_tokens": None}},
        workspace_settings={"safecoder": None},
    )
    assert result.problems == []
    assert result.config.completion.max_tokens == 5


@pytest.mark.parametrize("settings", [["completion.max_tokens", 3], "max_tokens=3", 7])
@pytest.mark.parametrize("layer", ["init_options", "workspace_settings"])
def test_client_settings_that_are_not_objects(settings, layer):
    result = load(**{layer: settings})
    p = only(result.problems)
    assert p.key == ""
    assert "expected an object" in p.message
    assert result.config == Config()


def test_coerce_public_helper():
    spec = next(s for s in config_keys() if s.key == "completion.max_tokens")
    assert coerce(spec, "12", from_text=True) == 12
    assert coerce(spec, 12) == 12
    with pytest.raises(ValueError, match="from 1 to 2048"):
        coerce(spec, "12")  # text is only parsed with from_text


# -- broken files ---------------------------------------------------------------------------
def test_broken_toml_reported_and_skipped(tmp_path):
    path = toml_file(tmp_path, "[completion]\nmax_tokens = 3\n[engine\nn_ctx = 1024\n")
    result = load(user_file=path, env={"SAFECODER_COMPLETION_CACHE_SIZE": "5"})
    p = only(result.problems)
    text = str(p)
    assert str(path) in text
    assert "line 3" in text and "column" in text
    assert "skipped" in text and p.fix
    # The whole file is skipped (even its valid part); later layers still apply.
    assert result.config.completion.max_tokens == 64
    assert result.config.completion.cache_size == 5


def test_file_with_invalid_utf8(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b'[model]\npath = "\xff"\n')
    p = only(load(user_file=path).problems)
    assert str(path) in str(p)


def test_unreadable_user_file(tmp_path):
    p = only(load(user_file=tmp_path).problems)  # a directory
    assert str(tmp_path) in str(p) and "read" in p.message


# -- workspace=False keys ---------------------------------------------------------------------
@pytest.mark.parametrize("key,value", sorted(NOT_FROM_WORKSPACE.items()))
def test_security_key_rejected_from_workspace_settings(tmp_path, key, value):
    result = load(workspace_settings={"safecoder": {key: value}})
    p = only(result.problems)
    assert (p.key, p.source) == (key, "workspace settings")
    assert "user config file" in p.message and "environment" in p.message
    spec = next(s for s in config_keys() if s.key == key)
    assert spec.env in p.fix
    assert result.config.get(key) == spec.default


@pytest.mark.parametrize("key,value", sorted(NOT_FROM_WORKSPACE.items()))
def test_security_key_accepted_from_init_options(key, value):
    result = load(init_options={key: value})
    assert result.problems == []
    expected = tuple(value) if isinstance(value, list) else value
    assert result.config.get(key) == expected


@pytest.mark.parametrize("key,value", sorted(NOT_FROM_WORKSPACE.items()))
def test_security_key_accepted_from_user_file_and_env(tmp_path, key, value):
    section, _, name = key.partition(".")
    expected = tuple(value) if isinstance(value, list) else value
    path = toml_file(tmp_path, f"[{section}]\n{name} = {json.dumps(value)}\n")
    result = load(user_file=path)
    assert result.problems == [] and result.config.get(key) == expected
    spec = next(s for s in config_keys() if s.key == key)
    text = ",".join(value) if isinstance(value, list) else str(value).lower()
    result = load(env={spec.env: text})
    assert result.problems == [] and result.config.get(key) == expected


def test_workspace_cannot_undo_a_security_setting_from_a_lower_layer(tmp_path):
    path = toml_file(tmp_path, '[engine]\nurl = "https://internal.example/v1"\n')
    result = load(
        user_file=path,
        workspace_settings={
            "engine": {"url": "https://attacker.example"},
            "log.include_code": True,
        },
    )
    assert {p.key for p in result.problems} == {"engine.url", "log.include_code"}
    assert result.config.engine.url == "https://internal.example/v1"
    assert result.config.log.include_code is False
    assert str(path) in next(p.fix for p in result.problems if p.key == "engine.url")


# -- nothing raises -------------------------------------------------------------------------
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
_keys = st.sampled_from([s.key for s in config_keys()] + ["x", "completion.x", "safecoder"])


@settings(max_examples=200, deadline=None)
@given(
    init=st.dictionaries(_keys, _json, max_size=6) | _json,
    workspace=st.dictionaries(_keys, _json, max_size=6) | _json,
    env=st.dictionaries(
        st.sampled_from([s.env for s in config_keys()] + ["SAFECODER_X"]),
        st.text(max_size=8).filter(lambda s: "\x00" not in s),
        max_size=4,
    ),
)
def test_never_raises_and_always_valid(init, workspace, env):
    result = load(env=env, init_options=init, workspace_settings=workspace)
    assert all(isinstance(p, ConfigProblem) and str(p) for p in result.problems)
    for spec in config_keys():
        value = result.config.get(spec.key)
        assert coerce(spec, value) == value  # every value in force passes its own rules


# -- the admin policy -------------------------------------------------------------------
def test_policy_pins_keys_over_every_layer(tmp_path):
    policy = toml_file(
        tmp_path,
        '[engine]\nkind = "openai"\nurl = "http://10.0.0.5:8088"\n'
        '[attribution]\naction = "block"\n[network]\nallowed_hosts = []\n',
        "policy.toml",
    )
    user = toml_file(tmp_path, '[engine]\nurl = "http://user.example"\n')
    result = load(
        user_file=user,
        env={"SAFECODER_ATTRIBUTION_ACTION": "annotate"},
        init_options={"engine": {"url": "http://init.example"}, "completion.max_tokens": 32},
        workspace_settings={"network": {"allowed_hosts": ["0.0.0.0/0"]}},
        policy=[policy],
    )
    c = result.config
    assert (c.engine.kind, c.engine.url, c.attribution.action) == (
        "openai",
        "http://10.0.0.5:8088",
        "block",
    )
    assert c.network.allowed_hosts == ()
    assert c.completion.max_tokens == 32  # not pinned: the editor's value stands
    assert result.pinned["engine.url"] == f"admin policy {policy}"
    pinned = {(p.key, p.source) for p in result.problems if "pinned by the admin" in p.message}
    assert pinned == {
        ("engine.url", f"user file {user}"),
        ("attribution.action", "env SAFECODER_ATTRIBUTION_ACTION"),
        ("engine.url", "initializationOptions"),
    }
    # the workspace value is refused before the policy is even asked
    assert any(
        p.key == "network.allowed_hosts" and "not in workspace settings" in p.message
        for p in result.problems
    )


def test_the_same_value_as_the_policy_is_not_a_problem(tmp_path):
    policy = toml_file(tmp_path, '[attribution]\naction = "block"\n', "policy.toml")
    result = load(env={"SAFECODER_ATTRIBUTION_ACTION": "block"}, policy=[policy])
    assert result.problems == []
    assert result.origins["attribution.action"] == f"admin policy {policy}"


def test_a_bad_policy_value_is_reported_and_not_pinned(tmp_path):
    policy = toml_file(tmp_path, '[attribution]\naction = "blok"\n', "policy.toml")
    result = load(env={"SAFECODER_ATTRIBUTION_ACTION": "off"}, policy=[policy])
    problem = only(result.problems)
    assert problem.key == "attribution.action" and problem.source == f"admin policy {policy}"
    assert "attribution.action" not in result.pinned
    assert result.config.attribution.action == "off"


def test_policy_files_from_the_environment_and_the_system(tmp_path, monkeypatch):
    from safecoder_lsp.config import load as config_module

    system = toml_file(tmp_path, '[attribution]\naction = "block"\n', "system.toml")
    from_env = toml_file(
        tmp_path, '[attribution]\naction = "off"\nunknown_license = "deny"\n', "env.toml"
    )
    monkeypatch.setattr(config_module, "SYSTEM_POLICY", system)
    result = load(env={"SAFECODER_POLICY": str(from_env)})
    # the system file wins where both pin a key: the variable cannot weaken it
    assert result.config.attribution.action == "block"
    assert result.pinned["attribution.unknown_license"] == f"admin policy {from_env}"
    missing = load(env={"SAFECODER_POLICY": str(tmp_path / "nope.toml")})
    problem = only(missing.problems)
    assert "SAFECODER_POLICY does not exist" in problem.message


def test_an_empty_list_of_settings_is_no_settings():
    # Neovim's Lua JSON encoder sends an empty table as []
    result = load(init_options=[], workspace_settings=[])
    assert result.problems == []
    assert result.config == load().config
