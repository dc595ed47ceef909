"""Load llama.cpp's libraries before numpy's in a process that will load a model.

Seen on a GPU machine (bench/RESULTS.md, H200 section): a llama-cpp-python CUDA build
compiled with a newer g++ than the system's libstdc++ (a devtoolset-style toolchain,
common on enterprise Linux) crashed with a segfault while loading the model
(``llama_model::print_info``, std::ostream code inside libggml-cuda) whenever numpy's
extension modules had been loaded first; with llama.cpp's libraries loaded first it
worked. Our server imports numpy early (the attribution index), so a process that
will run the local engine loads llama.cpp first. It is what that process would load
a moment later anyway; a process that only talks to an endpoint does not load it.
"""

from __future__ import annotations

import sys

from engine.kinds import LOCAL
from safecoder_lsp.config import Config


def uses_local_model(config: Config) -> bool:
    e = config.engine
    return e.kind == LOCAL or e.fallback == "local"


def preload() -> bool:
    """Import llama_cpp now (it loads its libraries before touching numpy). False
    when numpy came first or llama-cpp-python is missing (the engine reports that)."""
    if "llama_cpp" in sys.modules:
        return True
    if "numpy" in sys.modules:
        return False
    try:
        import llama_cpp  # noqa: F401
    except Exception:
        return False
    return True
