"""The answers of inference servers that tests/unit/engine/test_remote_engines.py replays
(tests/unit/engine/wire/). Each file is ``#`` header lines, a blank line, then the body.

The header's first line says which of two kinds the file is (``KINDS``):

- ``# recorded from ...``: the answer of a real server, byte for byte, written by
  tests/support/record_wire.py, whose header names the server, its version, the model,
  the date, the command and the request (today: llama.cpp's llama-server, the files
  ``llamacpp_*`` and ``openai_llamacpp_*`` but one);
- ``# WRITTEN BY HAND, not recorded: ...``: for a server that cannot run here (TGI,
  Ollama, vLLM) or a failure that cannot be caused on purpose; the header names the
  upstream source files its format follows, and its values are made up.
"""

from __future__ import annotations

from pathlib import Path

WIRE = Path(__file__).resolve().parents[1] / "unit" / "engine" / "wire"
KINDS = (b"# recorded from ", b"# WRITTEN BY HAND, not recorded: ")


def wire(name: str) -> bytes:
    """An answer: the file without its ``#`` header and the blank line after it."""
    lines = (WIRE / name).read_bytes().split(b"\n")
    start = 0
    while lines[start].startswith(b"#"):
        start += 1
    assert lines[start] == b"", f"{name}: a blank line must follow the header"
    return b"\n".join(lines[start + 1 :])
