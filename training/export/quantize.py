"""Quantizing a GGUF with llama.cpp's own quantizer, as llama-cpp-python exposes it."""

from __future__ import annotations

import os
from pathlib import Path

from training.errors import TrainingError

#: The choices of ``--quantize`` (llama.cpp's file types); f16 keeps the converter's file.
TYPES = ("q4_k_m", "q5_k_m", "q8_0", "f16")


def check_type(kind: str) -> None:
    if kind not in TYPES:
        raise TrainingError(f"unknown quantization {kind!r}; choose one of {', '.join(TYPES)}")


def quantize(src: Path, dst: Path, kind: str, threads: int = 0) -> None:
    """``src`` (the converter's f16 file) quantized to ``kind`` at ``dst``; for f16 the
    file itself is moved to ``dst`` (no copy of a 1 GB+ file)."""
    check_type(kind)
    if kind == "f16":
        os.replace(src, dst)
        return
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{kind.upper()}")
    params.nthread = threads or os.cpu_count() or 1
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params)
    if rc != 0 or not dst.is_file():
        raise TrainingError(f"llama.cpp could not quantize {src.name} to {kind} (code {rc})")
