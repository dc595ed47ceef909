"""Record what a real inference server answers, into tests/unit/engine/wire/.

Usage, from the repository root in the project's virtual environment (the default
model pulled, ``make model``)::

    python tests/support/record_wire.py [--out DIR] [CASE ...]

It starts llama.cpp's C++ ``llama-server`` (the llama.cpp vendored in the
llama-cpp-python sdist the project pins, built once by tests/support/llama_server.py)
on 127.0.0.1 with the default model, sends each case's request in the order listed
in ``CASES`` (the server's prompt cache carries over from one to the next, as it would
for an editor), and writes one file per case: ``#`` header lines naming the server,
its version, the model, the date, this command, the request and the HTTP status,
then a blank line, then the answer's body byte for byte (for a stream: the bytes of
the event stream with the chunked transfer coding removed; the tests' replay server
sends it again one event per chunk). ``CASE`` names limit the run to some files
(the others' cache state is then not reproduced). Answers are greedy
(temperature 0), so a new recording differs only in ids, times and timings.

The request bodies are those the project's remote engines send for the requests of
tests/unit/engine/test_remote_engines.py (which asserts them), so each replayed answer
is the real answer to what the test sends.

Only llama.cpp's server can run here: Hugging Face TGI and Ollama are not on the
package index (only their Python clients are), and vLLM's wheels need a CUDA GPU.
Their files in wire/ are written by hand; each header names the upstream source
files it follows.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:  # run as a script: `support` is a package of tests/
    sys.path.insert(0, str(TESTS))

from support.llama_server import SERVE_DEFAULTS, VERSION, binary, request, serve  # noqa: E402
from support.wire import WIRE  # noqa: E402

COMMAND = "python tests/support/record_wire.py"
# The model is served from this path (a link to the pulled file), so that the path
# the server reports (GET /props "model_path") is the same on every machine.
MODEL_LINK = Path("/tmp/safecoder-wire/models")

# The hole of the tests: "    return|" in fib (FIB in test_remote_engines.py).
FIB_PREFIX = "def fib(n):\n    if n < 2:\n        return n\n"
FIB_SUFFIX = "\n"
FIB_HEAD = "    return"
QWEN_FIB = f"<|fim_prefix|>{FIB_PREFIX}<|fim_suffix|>{FIB_SUFFIX}<|fim_middle|>{FIB_HEAD}"
# Digits make a prompt too long for the context (in "prompt": llama-server cuts
# input_prefix and input_suffix to fit its batch, not "prompt"); Qwen2's tokenizer
# splits numbers into single digits, so n of them are n tokens.
FILLER = "1"
TOO_LONG = 4200  # the prompt length the recorded error names


def infill(stream: bool, n_predict: int = 64, extra: bool = False, **more: Any) -> dict:
    """The body engine/remote/infill.py's LlamaCppInfill sends for FIB."""
    body: dict[str, Any] = {
        "input_prefix": FIB_PREFIX,
        "input_suffix": FIB_SUFFIX,
        "prompt": FIB_HEAD,
        "input_extra": ([{"filename": "utils.py", "text": "def add(a, b):\n"}] if extra else []),
        "n_predict": n_predict,
        "temperature": 0.0,
        "cache_prompt": True,
        "stream": stream,
    }
    body.update(more)
    return body


@dataclass
class Case:
    name: str  # the file in wire/
    what: str  # one line for the header
    method: str
    path: str
    body: dict | None = None
    status: int = 200
    # requests sent first, not recorded (the prompt cache they leave is part of the case)
    before: list[dict] = field(default_factory=list)
    # a body computed from an earlier answer (the over-long prompt), shown abridged
    make_body: Callable[[str], tuple[dict, str]] | None = None
    expect: bytes = b""  # the answer must contain this


def too_long_body(url: str) -> tuple[dict, str]:
    """An /infill body whose prompt is exactly TOO_LONG tokens: measured by asking once."""

    def body(n: int) -> dict:
        return infill(False, 4, prompt=FIB_HEAD + " " + FILLER * n)

    first = TOO_LONG + 100
    status, _, raw = request(url, "POST", "/infill", body(first), timeout=300)
    found = re.search(rb'"n_prompt_tokens":(\d+)', raw)
    if status != 400 or not found:
        raise RuntimeError(f"expected a context-size error, got {status}: {raw[:300]!r}")
    n = first + TOO_LONG - int(found.group(1))
    shown = (
        f'{{"prompt": "{FIB_HEAD} " + "{FILLER}" * {n}, the rest as in llamacpp_infill.json}}'
        " (input_prefix and input_suffix are cut to fit the batch; prompt is not)"
    )
    return body(n), shown


CASES = [
    Case(
        "llamacpp_props.json",
        "GET /props: the server's settings (the model's path, the default generation settings)",
        "GET",
        "/props",
    ),
    Case("llamacpp_models.json", "GET /v1/models: the served model", "GET", "/v1/models"),
    Case(
        "llamacpp_infill_stream_word.sse",
        'the first /infill (nothing cached), with "stop": [")"]: stop_type "word"',
        "POST",
        "/infill",
        infill(True, stop=[")"]),
    ),
    Case(
        "llamacpp_infill_stream.sse",
        "/infill with another file in input_extra, streamed; the same request was sent just"
        " before (its prompt is reused from the cache)",
        "POST",
        "/infill",
        infill(True, extra=True, stop=["\n\n"]),
        before=[infill(True, extra=True, stop=["\n\n"])],
    ),
    Case(
        "llamacpp_infill.json",
        '/infill, whole answer ("stream": false), n_predict 4: stop_type "limit"',
        "POST",
        "/infill",
        infill(False, 4),
    ),
    Case(
        "openai_llamacpp_completions_stream.sse",
        "POST /v1/completions, streamed, a Qwen FIM prompt built on the client, no model"
        ' named, "stop": ["\\n"]: ends with finish_reason "stop" and usage, then "data: [DONE]"',
        "POST",
        "/v1/completions",
        {"prompt": QWEN_FIB, "max_tokens": 64, "temperature": 0.0, "stream": True, "stop": ["\n"]},
    ),
    Case(
        "llamacpp_error_context.json",
        f"/infill with a prompt of {TOO_LONG} tokens, longer than the context (--ctx-size"
        " 4096): HTTP 400 before any generation",
        "POST",
        "/infill",
        status=400,
        make_body=too_long_body,
        expect=f"request ({TOO_LONG} tokens) exceeds the available context size".encode(),
    ),
]


def server_flags() -> str:
    return " ".join(f"{names[-1]} {value}" for names, value in SERVE_DEFAULTS)


def server_version() -> str:
    """What ``llama-server --version`` says (an sdist build has no git tag: "0 (unknown)")."""
    proc = subprocess.run(
        [str(binary()), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    found = re.search(r"version: (.+)", proc.stdout + proc.stderr)
    return found.group(1).strip() if found else "?"


def header(
    case: Case, shown: str, status: int, headers: dict[str, str], model: str, version: str
) -> str:
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    chunked = "chunked" in headers.get("transfer-encoding", "")
    framing = ", Transfer-Encoding: chunked (the coding removed here)" if chunked else ""
    lines = [
        "recorded from llama.cpp's llama-server (`--version`: "
        f"{version}), the llama.cpp vendored in",
        f"  llama-cpp-python {VERSION}, built by tests/support/llama_server.py; flags"
        f" {server_flags()};",
        f"  model {model} (the default model); on {today} by `{COMMAND}`.",
        "  The body after the blank line is the server's, byte for byte.",
        f"case: {case.what}",
        f"request: {case.method} {case.path}" + (f" {shown}" if shown else ""),
        f"answer: HTTP {status}, Content-Type: {headers.get('content-type', '?')}{framing}",
    ]
    return "".join(f"# {line}\n" for line in lines) + "\n"


def record(url: str, case: Case, out: Path, model: str, version: str) -> None:
    for earlier in case.before:
        status, _, raw = request(url, case.method, case.path, earlier, timeout=300)
        if status != 200:
            raise RuntimeError(f"{case.name}: a request before it got {status}: {raw[:300]!r}")
    if case.make_body is not None:
        body, shown = case.make_body(url)
    else:
        body = case.body
        shown = "" if body is None else json.dumps(body, ensure_ascii=False)
    status, headers, raw = request(url, case.method, case.path, body, timeout=300)
    if status != case.status:
        raise RuntimeError(f"{case.name}: HTTP {status}, expected {case.status}: {raw[:300]!r}")
    if case.expect not in raw:
        raise RuntimeError(f"{case.name}: {case.expect!r} is not in the answer {raw[:300]!r}")
    head = header(case, shown, status, headers, model, version)
    (out / case.name).write_bytes(head.encode() + raw)
    print(f"wrote {out / case.name} ({len(raw)} bytes)", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", help="file names to record (default: all)")
    parser.add_argument("--out", type=Path, default=WIRE, help=f"directory (default {WIRE})")
    args = parser.parse_args(argv)
    names = {c.name for c in CASES}
    unknown = set(args.cases) - names
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}; known: {sorted(names)}")
    cases = [c for c in CASES if not args.cases or c.name in args.cases]

    from engine.models import default_model_path

    model = default_model_path()
    if not model.is_file():
        parser.error(f"no default model at {model}: run `make model` first")
    MODEL_LINK.mkdir(parents=True, exist_ok=True)
    link = MODEL_LINK / model.name
    link.unlink(missing_ok=True)
    link.symlink_to(model)
    args.out.mkdir(parents=True, exist_ok=True)
    version = server_version()
    with serve(link) as url:
        for case in cases:
            record(url, case, args.out, model.name, version)
    return 0


if __name__ == "__main__":
    sys.exit(main())
