"""Fixtures for the end-to-end tests (helpers are in lsp_session.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def clean_env(tmp_path_factory) -> dict[str, str]:
    """The environment for a server: no user config file, no SAFECODER_* leaking in."""
    cfg = tmp_path_factory.mktemp("cfg") / "config.toml"
    cfg.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFECODER_")}
    env["SAFECODER_CONFIG"] = str(cfg)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(scope="session")
def truncated_model(tmp_path_factory, model_path) -> Path:
    path = tmp_path_factory.mktemp("bad") / "truncated.gguf"
    with open(model_path, "rb") as src, open(path, "wb") as dst:
        dst.write(src.read(64 << 20))
    return path
