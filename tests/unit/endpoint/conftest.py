"""One real model per test module, served by the endpoint's SerialBackend.

One llama.cpp thread: on a 2-core machine shared with other work, two threads that
wait on each other at every step were measured 4 to 12 times slower than one.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def backend(model_path):
    from engine.llamacpp import LlamaCppEngine
    from safecoder_lsp.endpoint.serial import SerialBackend

    b = SerialBackend(lambda: LlamaCppEngine(model_path, n_ctx=2048, n_threads=1))
    yield b
    b.close()
