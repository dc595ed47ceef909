"""Shared fixtures: the real default model and a real llama.cpp engine."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The real default model (``make test`` pulls it first; pulled here otherwise)."""
    from engine.models import default_model_path, pull

    path = default_model_path()
    if not path.exists():
        path = pull()
    return path


@pytest.fixture(scope="session")
def engine(model_path):
    from engine.llamacpp import LlamaCppEngine

    eng = LlamaCppEngine(model_path, n_ctx=2048)
    yield eng
    eng.close()
