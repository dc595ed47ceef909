"""Typed configuration: the keys, their types, defaults and rules
(safecoder_lsp/config/schema.py)."""

from __future__ import annotations

import dataclasses

import pytest
from support.config_cases import CHOICES, EXPECTED_DEFAULTS, NOT_FROM_WORKSPACE, RANGES

from safecoder_lsp.config import Config, config_keys


# -- keys and defaults ------------------------------------------------------------------
def test_every_key_with_its_type_and_default():
    specs = config_keys()
    assert [s.key for s in specs] == list(EXPECTED_DEFAULTS)
    for spec in specs:
        type_name, default = EXPECTED_DEFAULTS[spec.key]
        assert (spec.type_name, spec.default) == (type_name, default), spec.key
        assert spec.doc and "\n" not in spec.doc, spec.key
        assert spec.key == f"{spec.section}.{spec.name}"


def test_workspace_flag_exactly_on_security_keys():
    assert {s.key for s in config_keys() if not s.workspace} == set(NOT_FROM_WORKSPACE)


@pytest.mark.parametrize("key,bounds", sorted(RANGES.items()))
def test_ranges_metadata(key, bounds):
    spec = next(s for s in config_keys() if s.key == key)
    assert (spec.min, spec.max) == bounds


@pytest.mark.parametrize("key,choices", sorted(CHOICES.items()))
def test_choices_metadata(key, choices):
    spec = next(s for s in config_keys() if s.key == key)
    assert spec.choices == choices
    assert spec.default in choices


def test_only_choice_keys_have_choices():
    assert {s.key for s in config_keys() if s.choices} == set(CHOICES)


@pytest.mark.parametrize(
    "key,env",
    [
        ("engine.kind", "SAFECODER_ENGINE_KIND"),
        ("completion.max_tokens", "SAFECODER_COMPLETION_MAX_TOKENS"),
        ("engine.api_token_file", "SAFECODER_ENGINE_API_TOKEN_FILE"),
        ("log.file", "SAFECODER_LOG_FILE"),
        ("model.fim_stop", "SAFECODER_MODEL_FIM_STOP"),
    ],
)
def test_env_names(key, env):
    assert next(s for s in config_keys() if s.key == key).env == env


def test_config_is_frozen_hashable_and_derivable():
    c = Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.completion.max_tokens = 3  # type: ignore[misc]
    hash(c)
    d = c.with_values({"completion.max_tokens": 3, "log.level": "debug"})
    assert d.get("completion.max_tokens") == 3 and d.log.level == "debug"
    assert c.completion.max_tokens == 64  # the original is unchanged
    assert d.engine is c.engine  # untouched sections are shared
    with pytest.raises(KeyError):
        c.get("completion.nope")
    with pytest.raises(KeyError):
        c.with_values({"nope.nope": 1})


def test_no_engine_or_attribution_key_from_workspace_settings():
    # README: a repository's settings cannot change the engine or the attribution
    # (a missing attribution.index would turn action = block into "unchecked").
    for spec in config_keys():
        if spec.section in ("engine", "attribution"):
            assert not spec.workspace, spec.key


# -- derived from the registries (engine/kinds.py, engine/fim.py) --------------------------
@pytest.fixture
def toy_kind(monkeypatch):
    """A kind registered the way a new engine module would be: config is not edited."""
    from engine import kinds

    monkeypatch.setattr(kinds, "KINDS", dict(kinds.KINDS))
    return kinds.register(kinds.EngineKind("toy", "toy_engine_module:make", "a toy engine"))


def test_a_registered_engine_kind_is_accepted_listed_and_named_in_errors(toy_kind):
    from support.config_cases import load

    from safecoder_lsp.config import json_schema, render_markdown

    spec = next(s for s in config_keys() if s.key == "engine.kind")
    assert spec.choices == (*CHOICES["engine.kind"], "toy")
    result = load(env={"SAFECODER_ENGINE_KIND": "TOY"})
    assert result.problems == [] and result.config.engine.kind == "toy"
    row = next(line for line in render_markdown().splitlines() if "`engine.kind`" in line)
    assert "ollama, toy" in row
    assert json_schema()["properties"]["engine.kind"]["enum"][-1] == "toy"
    bad = load(env={"SAFECODER_ENGINE_KIND": "toys"}).problems
    assert len(bad) == 1 and "ollama, toy" in str(bad[0])


def test_a_registered_fim_template_is_accepted_and_listed(monkeypatch):
    from support.config_cases import load

    from engine import fim
    from safecoder_lsp.config import render_markdown

    monkeypatch.setattr(fim, "REGISTRY", dict(fim.REGISTRY))
    toy = fim.FimTemplate(name="toy", prefix="<P>", suffix="<S>", middle="<M>")
    fim.register(fim.Registered(toy, lambda vocab, arch: False))
    result = load(init_options={"model.fim_template": "toy"})
    assert result.problems == [] and result.config.model.fim_template == "toy"
    row = next(line for line in render_markdown().splitlines() if "`model.fim_template`" in line)
    assert "codegemma, toy, custom" in row


def test_the_registries_name_the_defaults():
    from engine import fim, kinds

    assert Config().engine.kind == kinds.LOCAL
    assert Config().model.fim_template == fim.AUTO
    assert CHOICES["engine.kind"] == kinds.names()
    assert CHOICES["model.fim_template"] == fim.setting_choices()
