"""Benchmarks (see bench/RESULTS.md)."""

from __future__ import annotations

import os
from pathlib import Path


def model_path() -> Path:
    """The model every benchmark runs, raw and through the server alike:
    $SAFECODER_MODEL_PATH (which the server reads as model.path), else the installed
    default model. E.g. ``SAFECODER_MODEL_PATH=<model dir>/qwen2.5-coder-1.5b-instruct.gguf
    python -m bench.humaneval_infill`` measures the larger model (``safecoder-lsp model
    list`` shows the directory)."""
    from engine.models import resolve_model_path

    return resolve_model_path(os.environ.get("SAFECODER_MODEL_PATH", ""))
