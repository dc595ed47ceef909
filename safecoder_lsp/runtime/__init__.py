"""From the configuration to running parts: ``engines`` builds the engine in force
(by its kind in engine/kinds.py), ``pipeline`` the completion service and the
attribution step around it."""

from __future__ import annotations

from safecoder_lsp.runtime.engines import (
    PLUGIN_SETTINGS,
    engine_factory,
    local_engine,
    remote_engine,
    template_override,
)
from safecoder_lsp.runtime.pipeline import (
    ENGINE_KEYS,
    attributor,
    build_service,
    completion_settings,
    context_settings,
    engine_config_changed,
)

__all__ = [
    "ENGINE_KEYS",
    "PLUGIN_SETTINGS",
    "attributor",
    "build_service",
    "completion_settings",
    "context_settings",
    "engine_config_changed",
    "engine_factory",
    "local_engine",
    "remote_engine",
    "template_override",
]
