"""Typed configuration: dataclasses with defaults, layered sources, readable problems.

One module per job: ``schema`` (the typed sections and the table of keys),
``validate`` (checking values, the problems reported), ``load`` (the layers
defaults < user file < env < initializationOptions < workspace settings, and the
admin policy that pins keys) and ``docs`` (the generated reference and its command
line, ``python -m safecoder_lsp.config``). The names importers use are here.
"""

from __future__ import annotations

from attribution.licenses import DEFAULT_ALLOWED_LICENSES
from safecoder_lsp.config.docs import json_schema, render_markdown, with_reference
from safecoder_lsp.config.load import (
    SYSTEM_POLICY,
    LoadResult,
    flatten,
    load_config,
    policy_paths,
    user_config_path,
)
from safecoder_lsp.config.schema import (
    ENV_NOT_KEYS,
    ENV_PREFIX,
    SECTION,
    SOURCE_INIT,
    SOURCE_WORKSPACE,
    AttributionConfig,
    CompletionConfig,
    Config,
    EngineConfig,
    KeySpec,
    LogConfig,
    ModelConfig,
    NetworkConfig,
    config_keys,
    env_name,
)
from safecoder_lsp.config.validate import ConfigProblem, coerce

__all__ = [
    "DEFAULT_ALLOWED_LICENSES",
    "ENV_NOT_KEYS",
    "ENV_PREFIX",
    "SECTION",
    "SOURCE_INIT",
    "SOURCE_WORKSPACE",
    "SYSTEM_POLICY",
    "AttributionConfig",
    "CompletionConfig",
    "Config",
    "ConfigProblem",
    "EngineConfig",
    "KeySpec",
    "LoadResult",
    "LogConfig",
    "ModelConfig",
    "NetworkConfig",
    "coerce",
    "config_keys",
    "env_name",
    "flatten",
    "json_schema",
    "load_config",
    "policy_paths",
    "render_markdown",
    "user_config_path",
    "with_reference",
]
