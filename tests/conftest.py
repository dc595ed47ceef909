"""Shared fixtures: the real default model, a real llama.cpp engine, the C++ llama-server.

Markers (``make unit`` deselects both: ``-m "not model and not build"``):

- ``model``: needs the real default model. Set here on every test that uses the
  ``model_path`` fixture (directly or through another fixture, e.g. ``engine``), and by
  hand (``pytestmark``) on modules whose tests start a server that loads the model.
- ``build``: needs the C++ ``llama-server`` built from source (several minutes, once).
  Set here on every test that uses the ``llama_server_binary`` fixture.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# fixture -> the marker every test using it (even through other fixtures) gets
MARKED_BY_FIXTURE = {"model_path": "model", "llama_server_binary": "build"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "build: needs the C++ llama-server built from source (once, minutes)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for fixture, marker in MARKED_BY_FIXTURE.items():
            if fixture in used and item.get_closest_marker(marker) is None:
                item.add_marker(marker)


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The real default model (``make test`` pulls it first; pulled here otherwise)."""
    from engine.models import default_model_path, pull

    path = default_model_path()
    if not path.exists():
        path = pull()
    return path


@pytest.fixture(scope="session")
def llama_server_binary() -> Path:
    """The C++ ``llama-server`` (tests/support/llama_server.py; built on first use)."""
    from support.llama_server import binary

    return binary()


@pytest.fixture(scope="session")
def engine(model_path):
    from engine.llamacpp import LlamaCppEngine

    eng = LlamaCppEngine(model_path, n_ctx=2048)
    yield eng
    eng.close()
