"""The engine kinds: one registry, the values ``engine.kind`` accepts.

Each kind names its factory by reference (``"module:attribute"``); the module is
imported only when an engine of that kind is built, so importing this registry
imports no engine, llama.cpp or numpy (see safecoder_lsp/native.py). The
configuration's allowed values, its docs and the message for a bad value come
from here, and the server builds an engine by looking its kind up here.

What a factory is called with depends on where the kind runs:

- a local kind (``remote=False``): ``factory(model_path, *, n_ctx, n_threads,
  n_gpu_layers, n_batch[, lora_path]) -> Engine`` (model_path: the resolved model
  file; lora_path only when model.lora_path is set); the
  engine may have a ``fim_template`` attribute (engine/fim.py), the template it
  detected in its model, which model.fim_template = auto then uses;
- a remote kind (``remote=True``): ``factory(template) -> Api`` (engine/remote/engine.py),
  ``template`` the FIM template in force, or None while the served model's name is
  to pick one.

Adding an engine kind is one new module with its factory plus one line below.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: The kind of the embedded engine (the default, and the local fallback).
LOCAL = "llamacpp"


@dataclass(frozen=True)
class EngineKind:
    name: str
    factory: str  # "package.module:attribute", imported when the kind is built
    description: str  # one line, for people
    # What it needs: remote, an endpoint at engine.url answers; local, a model file on
    # this machine (model.path) is loaded.
    remote: bool = False

    def load(self) -> Callable[..., Any]:
        """The factory (imports its module now)."""
        module, _, attribute = self.factory.partition(":")
        return getattr(importlib.import_module(module), attribute)


def _local(name: str, factory: str, description: str) -> EngineKind:
    return EngineKind(name, factory, description)


def _remote(name: str, factory: str, description: str) -> EngineKind:
    return EngineKind(name, factory, description, remote=True)


# In the order the configuration and its docs list them.
KINDS: dict[str, EngineKind] = {
    k.name: k
    for k in (
        _local(LOCAL, "engine.llamacpp:LlamaCppEngine", "the embedded llama.cpp engine"),
        _remote("openai", "engine.remote.openai:api", "an OpenAI-compatible /v1/completions"),
        _remote("tgi", "engine.remote.tgi:api", "Text Generation Inference's /generate"),
        _remote("llamacpp-infill", "engine.remote.infill:api", "llama.cpp server's /infill"),
        _remote("ollama", "engine.remote.ollama:api", "Ollama's /api/generate"),
    )
}


def register(kind: EngineKind) -> EngineKind:
    """Add a kind (its name must be new)."""
    if kind.name in KINDS:
        raise ValueError(f"engine kind {kind.name!r} is already registered")
    KINDS[kind.name] = kind
    return kind


def names() -> tuple[str, ...]:
    """The registered kinds, in registry order (``engine.kind``'s allowed values)."""
    return tuple(KINDS)


def get(name: str) -> EngineKind:
    """The kind called ``name``; ValueError naming the known ones otherwise."""
    try:
        return KINDS[name]
    except KeyError:
        known = ", ".join(KINDS)
        raise ValueError(f"unknown engine kind {name!r}; known kinds: {known}") from None
