"""Each remote Api through RemoteEngine.stream() against a real HTTP server on 127.0.0.1
that replays server answers from tests/unit/engine/wire/ (streams sent with chunked
transfer encoding, one event per chunk), and checks the request we sent.

What the files are (each header says it; tests/support/wire.py): llama.cpp's
llama-server answers are recorded from the real server on the default model by
tests/support/record_wire.py (the bodies it sends are those the tests below send), all
but one failure that cannot be caused on purpose; TGI, Ollama and vLLM cannot run here,
so their answers are written by hand after the upstream source files each header names,
with made-up values."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from support.wire import KINDS, WIRE, wire

from engine.base import (
    CancelToken,
    EngineError,
    FimParts,
    GenerationRequest,
    GenerationStats,
    StopReason,
)
from engine.fim import QWEN, SERVER_SIDE, STARCODER, FimTemplate
from engine.remote.auth import TokenFile
from engine.remote.engine import RemoteEngine
from engine.remote.http import Endpoint, RemoteError
from engine.remote.infill import LlamaCppInfill
from engine.remote.ollama import OllamaGenerate
from engine.remote.openai import OpenAICompletions
from engine.remote.tgi import TgiGenerate


def events_of(body: bytes, framing: str) -> list[bytes]:
    """The body cut where a server flushes: after each event (SSE) or line (NDJSON)."""
    sep = b"\n\n" if framing == "sse" else b"\n"
    parts = body.split(sep)
    return [p + sep for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


@dataclass
class Reply:
    body: bytes
    status: int = 200
    content_type: str = "application/json"
    framing: str = ""  # "sse" / "ndjson": a chunked stream, one chunk per event


def sse(name: str) -> Reply:
    return Reply(wire(name), content_type="text/event-stream", framing="sse")


def ndjson(name: str) -> Reply:
    return Reply(wire(name), content_type="application/x-ndjson", framing="ndjson")


def answer(name: str, status: int = 200) -> Reply:
    return Reply(wire(name), status)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Replay:
    url: str
    routes: dict[tuple[str, str], Reply] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def route(self, method: str, path: str, reply: Reply) -> None:
        self.routes[(method, path)] = reply

    @property
    def last(self) -> Seen:
        assert self.seen, "the server got no request"
        return self.seen[-1]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, *args: object) -> None:
        pass

    def _serve(self, method: str) -> None:
        replay: Replay = self.server.replay
        size = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(size) if size else b""
        replay.seen.append(
            Seen(
                method,
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                json.loads(raw) if raw else None,
            )
        )
        reply = replay.routes.get((method, self.path)) or Reply(b'{"error":"no route"}', 404)
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            if reply.framing:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for piece in events_of(reply.body, reply.framing):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading (max_tokens, a stop word): as real servers see it

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")


@pytest.fixture(scope="module")
def httpd() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def server(httpd) -> Replay:
    httpd.replay = Replay(f"http://127.0.0.1:{httpd.server_address[1]}")
    return httpd.replay


def remote(server: Replay, api, token="", **kw) -> RemoteEngine:
    kw.setdefault("retries", 0)
    return RemoteEngine(api, Endpoint(server.url, token=token, read_timeout=10), **kw)


def run(engine: RemoteEngine, request: GenerationRequest) -> tuple[list[str], GenerationStats]:
    pieces = list(engine.stream(request, CancelToken()))
    return pieces, engine.last_stats


# The hole the recordings fill: TGI / llama.cpp complete "    return|" ...
FIB = FimParts(
    prefix="def fib(n):\n    if n < 2:\n        return n\n", suffix="\n", middle_head="    return"
)
FIB_MIDDLE = [" fib", "(n", " -", " ", "1", ")", " +", " fib", "(n", " -", " ", "2", ")\n"]
# llama.cpp's llama-server, recorded on the default model (its tokens differ: "n-1")
LLAMA_MIDDLE = " fib(n-1) + fib(n-2)"
# the path record_wire.py serves the model from: llama-server names a model by its --model
LLAMA_MODEL = "/tmp/safecoder-wire/models/qwen2.5-coder-0.5b-q4_k_m.gguf"
# ... and Ollama "    |" above "return n".
GUARD = FimParts(prefix="def fib(n):\n", suffix="\n        return n\n", middle_head="    ")


def fim_request(
    template: FimTemplate | None = QWEN, parts: FimParts = FIB, **kw
) -> GenerationRequest:
    prompt = template.build(parts.prefix, parts.suffix, parts.middle_head) if template else ""
    return GenerationRequest(prompt=prompt, fim=parts, **kw)


# -- TGI ---------------------------------------------------------------------------------
def test_tgi_stream_yields_the_tokens_and_skips_the_special_eos(server):
    server.route("POST", "/generate_stream", sse("tgi_generate_stream.sse"))
    request = fim_request(max_tokens=64)
    pieces, stats = run(remote(server, TgiGenerate()), request)
    assert pieces == FIB_MIDDLE
    assert "<|endoftext|>" not in "".join(pieces)
    assert stats.generated_tokens == 13  # the special token is not text
    assert stats.stop_reason is StopReason.END_OF_TEXT
    seen = server.last
    assert (seen.method, seen.path) == ("POST", "/generate_stream")
    assert seen.headers["accept"] == "text/event-stream"
    assert seen.headers["content-type"] == "application/json"
    assert "authorization" not in seen.headers
    assert seen.body == {
        "inputs": request.prompt,
        "parameters": {
            "max_new_tokens": 64,
            "return_full_text": False,
            "details": True,
            "do_sample": False,
        },
        "stream": True,
    }


def test_tgi_stream_reports_the_prompt_length_from_the_final_details(server):
    # TGI's StreamDetails carries the prompt length as "input_length" (router/src/lib.rs).
    server.route("POST", "/generate_stream", sse("tgi_generate_stream.sse"))
    _, stats = run(remote(server, TgiGenerate()), fim_request())
    assert stats.prompt_tokens == 21


def test_tgi_sampling_parameters(server):
    server.route("POST", "/generate_stream", sse("tgi_generate_stream.sse"))
    run(remote(server, TgiGenerate()), fim_request(temperature=0.2))
    parameters = server.last.body["parameters"]
    assert parameters["do_sample"] is True and parameters["temperature"] == 0.2


def test_tgi_stop_sequence_maps_to_stop_word(server):
    # The server stopped on "\n" and kept it in the text (as TGI does).
    server.route("POST", "/generate_stream", sse("tgi_generate_stream_stop.sse"))
    pieces, stats = run(remote(server, TgiGenerate()), fim_request())
    assert "".join(pieces) == "".join(FIB_MIDDLE)
    assert stats.stop_reason is StopReason.STOP_WORD
    # Asked with the stop word: sent to the server, and cut from the text here.
    pieces, stats = run(remote(server, TgiGenerate()), fim_request(stop=("\n",)))
    assert server.last.body["parameters"]["stop"] == ["\n"]
    assert "".join(pieces) == " fib(n - 1) + fib(n - 2)"
    assert stats.stop_reason is StopReason.STOP_WORD


def test_tgi_length_maps_to_max_tokens(server):
    server.route("POST", "/generate_stream", sse("tgi_generate_stream_length.sse"))
    pieces, stats = run(remote(server, TgiGenerate()), fim_request(max_tokens=64))
    assert "".join(pieces) == " fib(n - "
    assert stats.stop_reason is StopReason.MAX_TOKENS


def test_tgi_gets_at_most_four_stops_the_rest_apply_here(server):
    server.route("POST", "/generate_stream", sse("tgi_generate_stream.sse"))
    stops = ("x1", "x2", "x3", "x4", "\n", " +")
    pieces, stats = run(remote(server, TgiGenerate()), fim_request(stop=stops))
    assert server.last.body["parameters"]["stop"] == ["\n", "x1", "x2", "x3"]
    # " +" never reached the server, which went on past it: cut here.
    assert "".join(pieces) == " fib(n - 1)"
    assert stats.stop_reason is StopReason.STOP_WORD


def test_max_tokens_is_applied_here_too(server):
    server.route("POST", "/generate_stream", sse("tgi_generate_stream.sse"))
    pieces, stats = run(remote(server, TgiGenerate()), fim_request(max_tokens=3))
    assert server.last.body["parameters"]["max_new_tokens"] == 3
    assert pieces == FIB_MIDDLE[:3]  # the replayed server ignores the limit
    assert stats.generated_tokens == 3
    assert stats.stop_reason is StopReason.MAX_TOKENS


def test_should_stop_ends_the_stream(server):
    server.route("POST", "/generate_stream", sse("tgi_generate_stream.sse"))
    seen: list[str] = []

    def should_stop(text: str) -> bool:
        seen.append(text)
        return text.endswith("+")

    pieces, stats = run(remote(server, TgiGenerate()), fim_request(should_stop=should_stop))
    assert "".join(pieces) == " fib(n - 1) +"
    assert stats.stop_reason is StopReason.CALLER
    assert seen[0] == " fib" and seen[-1] == " fib(n - 1) +"


def test_tgi_whole_answer_with_details(server):
    server.route("POST", "/generate", answer("tgi_generate.json"))
    request = fim_request(max_tokens=4)
    pieces, stats = run(remote(server, TgiGenerate(), streaming=False), request)
    assert pieces == [" fib(n - "]
    assert stats.stop_reason is StopReason.MAX_TOKENS
    assert stats.generated_tokens > 0
    assert server.last.path == "/generate"
    assert server.last.headers["accept"] == "application/json"
    assert server.last.body["stream"] is False
    assert server.last.body["parameters"]["max_new_tokens"] == 4


def test_tgi_whole_answer_without_details(server):
    server.route("POST", "/generate", answer("tgi_generate_plain.json"))
    engine = remote(server, TgiGenerate(), streaming=False)
    pieces, stats = run(engine, fim_request())
    assert pieces == ["".join(FIB_MIDDLE)]
    assert stats.stop_reason is StopReason.END_OF_TEXT
    # stop words and should_stop also cut a whole answer
    pieces, stats = run(engine, fim_request(stop=(" +",)))
    assert pieces == [" fib(n - 1)"] and stats.stop_reason is StopReason.STOP_WORD
    pieces, stats = run(engine, fim_request(should_stop=lambda text: text.endswith("\n")))
    assert pieces == ["".join(FIB_MIDDLE)] and stats.stop_reason is StopReason.CALLER


def test_tgi_error_event_mid_stream(server):
    server.route("POST", "/generate_stream", sse("tgi_generate_stream_error.sse"))
    pieces: list[str] = []
    with pytest.raises(RemoteError) as info:
        for piece in remote(server, TgiGenerate()).stream(fim_request(), CancelToken()):
            pieces.append(piece)
    assert pieces == [" fib", "(n"]
    assert "CUDA out of memory" in info.value.message
    assert "Request failed during generation" in info.value.message


def test_tgi_validation_error_event(server):
    server.route("POST", "/generate_stream", sse("tgi_generate_stream_validation.sse"))
    with pytest.raises(EngineError, match="Input validation error: `inputs` tokens"):
        run(remote(server, TgiGenerate()), fim_request())


def test_tgi_whole_validation_error_is_http_422(server):
    server.route("POST", "/generate", answer("tgi_error_validation.json", 422))
    with pytest.raises(RemoteError) as info:
        run(remote(server, TgiGenerate(), streaming=False), fim_request())
    assert "HTTP 422: Input validation error" in info.value.message
    assert info.value.status == 422 and not info.value.retryable


# -- Ollama ------------------------------------------------------------------------------
OLLAMA_MODEL = "qwen2.5-coder:1.5b-base"


def test_ollama_raw_stream(server):
    server.route("POST", "/api/generate", ndjson("ollama_generate_stream.ndjson"))
    engine = remote(server, OllamaGenerate(raw=True), model=OLLAMA_MODEL, fim_template=QWEN)
    request = fim_request(parts=GUARD, max_tokens=64, stop=("\n\n",))
    pieces, stats = run(engine, request)
    assert pieces == ["if", " n", " <", " ", "2", ":"]  # Go's \u003c decoded
    assert stats.stop_reason is StopReason.END_OF_TEXT
    assert stats.prompt_tokens == 13
    assert stats.generated_tokens == 6
    seen = server.last
    assert seen.path == "/api/generate"
    assert seen.headers["accept"] == "application/x-ndjson"
    assert seen.body == {
        "model": OLLAMA_MODEL,
        "stream": True,
        "options": {"num_predict": 64, "temperature": 0.0, "stop": ["\n\n"]},
        "prompt": request.prompt,
        "raw": True,
    }
    assert engine.fim_template is QWEN


def test_ollama_suffix_mode_lets_the_server_build_the_prompt(server):
    server.route("POST", "/api/generate", answer("ollama_generate.json"))
    engine = remote(server, OllamaGenerate(raw=False), model=OLLAMA_MODEL, streaming=False)
    assert engine.fim_template is SERVER_SIDE
    request = fim_request(SERVER_SIDE, parts=GUARD, max_tokens=32)
    pieces, stats = run(engine, request)
    assert pieces == ["if n < 2:"]
    assert stats.stop_reason is StopReason.END_OF_TEXT
    assert stats.prompt_tokens == 14
    body = server.last.body
    assert body["prompt"] == "def fib(n):\n    "
    assert body["suffix"] == "\n        return n\n"
    assert "raw" not in body
    assert body["stream"] is False and body["options"]["num_predict"] == 32


def test_ollama_length_maps_to_max_tokens(server):
    server.route("POST", "/api/generate", ndjson("ollama_generate_stream_length.ndjson"))
    engine = remote(server, OllamaGenerate(), model=OLLAMA_MODEL, fim_template=QWEN)
    pieces, stats = run(engine, fim_request(parts=GUARD, max_tokens=64))
    assert pieces == ["if", " n", " <"]
    assert stats.stop_reason is StopReason.MAX_TOKENS
    assert stats.prompt_tokens == 13


def test_ollama_error_line_mid_stream(server):
    server.route("POST", "/api/generate", ndjson("ollama_generate_stream_error.ndjson"))
    engine = remote(server, OllamaGenerate(), model=OLLAMA_MODEL, fim_template=QWEN)
    pieces: list[str] = []
    with pytest.raises(EngineError, match="unexpected EOF"):
        for piece in engine.stream(fim_request(parts=GUARD), CancelToken()):
            pieces.append(piece)
    assert pieces == ["if", " n"]


def test_ollama_unknown_model(server):
    server.route("POST", "/api/generate", answer("ollama_error_not_found.json", 404))
    engine = remote(server, OllamaGenerate(), model=OLLAMA_MODEL, fim_template=QWEN)
    with pytest.raises(RemoteError) as info:
        run(engine, fim_request(parts=GUARD))
    assert "HTTP 404: model 'qwen2.5-coder:1.5b-base' not found" in info.value.message
    assert not info.value.endpoint_fault


# -- OpenAI /v1/completions ----------------------------------------------------------------
def test_openai_vllm_stream(server):
    server.route("POST", "/v1/completions", sse("openai_vllm_completions_stream.sse"))
    engine = remote(server, OpenAICompletions(), model="bigcode/starcoder2-3b")
    request = fim_request(STARCODER, max_tokens=64, stop=(*STARCODER.stop_words, "\n"))
    pieces, stats = run(engine, request)
    assert pieces == [" fib", "(n", " -", " ", "1", ")"]
    assert stats.stop_reason is StopReason.MAX_TOKENS  # finish_reason "length"
    assert stats.generated_tokens == 6
    seen = server.last
    assert seen.path == "/v1/completions"
    assert seen.body == {
        "prompt": request.prompt,
        "max_tokens": 64,
        "temperature": 0.0,
        "stream": True,
        "model": "bigcode/starcoder2-3b",
        "stop": ["\n", "<|endoftext|>", "<file_sep>", "<fim_prefix>"],
    }


def test_openai_llamacpp_stream_with_usage_in_the_final_chunk(server):
    server.route("POST", "/v1/completions", sse("openai_llamacpp_completions_stream.sse"))
    pieces, stats = run(remote(server, OpenAICompletions()), fim_request(stop=("\n",)))
    assert "".join(pieces) == LLAMA_MIDDLE
    assert stats.stop_reason is StopReason.END_OF_TEXT  # finish_reason "stop"
    assert stats.prompt_tokens == 21
    assert "model" not in server.last.body  # none configured or discovered


def test_openai_whole_answer(server):
    server.route("POST", "/v1/completions", answer("openai_vllm_completions.json"))
    engine = remote(server, OpenAICompletions(), model="bigcode/starcoder2-3b", streaming=False)
    pieces, stats = run(engine, fim_request(STARCODER, stop=("\n",)))
    assert pieces == [" fib(n - 1) + fib(n - 2)"]
    assert stats.prompt_tokens == 24
    # finish_reason "stop" (vLLM's stop_reason "\n" would tell a stop string matched)
    assert stats.stop_reason is StopReason.END_OF_TEXT
    assert server.last.body["stream"] is False


def test_openai_error_event_mid_stream(server):
    server.route("POST", "/v1/completions", sse("openai_vllm_completions_stream_error.sse"))
    pieces: list[str] = []
    with pytest.raises(EngineError, match="longer than the maximum model length"):
        for piece in remote(server, OpenAICompletions()).stream(fim_request(), CancelToken()):
            pieces.append(piece)
    assert pieces == [" fib", "(n"]


# -- llama.cpp /infill --------------------------------------------------------------------
def test_infill_stream_sends_the_parts(server):
    server.route("POST", "/infill", sse("llamacpp_infill_stream.sse"))
    engine = remote(server, LlamaCppInfill())
    assert engine.fim_template is SERVER_SIDE and engine.wants_other_files
    parts = FimParts(
        FIB.prefix, FIB.suffix, FIB.middle_head, extra=(("utils.py", "def add(a, b):\n"),)
    )
    request = fim_request(SERVER_SIDE, parts=parts, max_tokens=64, stop=("\n\n",))
    pieces, stats = run(engine, request)
    # the "\n" after ")" held back (it may start the stop word "\n\n"), then released
    assert "".join(pieces) == LLAMA_MIDDLE + "\n```"
    assert stats.stop_reason is StopReason.STOP_WORD  # the server stopped on "\n\n"
    # the same request came just before: all of the prompt but its last token is reused
    assert (stats.prompt_tokens, stats.reused_tokens, stats.evaluated_tokens) == (38, 37, 1)
    assert server.last.path == "/infill"
    assert server.last.body == {
        "input_prefix": FIB.prefix,
        "input_suffix": FIB.suffix,
        "prompt": FIB.middle_head,
        "input_extra": [{"filename": "utils.py", "text": "def add(a, b):\n"}],
        "n_predict": 64,
        "temperature": 0.0,
        "cache_prompt": True,
        "stream": True,
        "stop": ["\n\n"],
    }


def test_infill_stop_word(server):
    server.route("POST", "/infill", sse("llamacpp_infill_stream_word.sse"))
    pieces, stats = run(remote(server, LlamaCppInfill()), fim_request(SERVER_SIDE, stop=(")",)))
    assert "".join(pieces) == " fib(n-1"
    assert stats.stop_reason is StopReason.STOP_WORD
    assert (stats.prompt_tokens, stats.reused_tokens) == (28, 0)


def test_infill_whole_answer(server):
    server.route("POST", "/infill", answer("llamacpp_infill.json"))
    engine = remote(server, LlamaCppInfill(), streaming=False)
    pieces, stats = run(engine, fim_request(SERVER_SIDE, max_tokens=4))
    assert pieces == [" fib(n-1"]
    assert stats.stop_reason is StopReason.MAX_TOKENS  # stop_type "limit"
    assert stats.prompt_tokens == 28
    assert server.last.body["stream"] is False and server.last.body["n_predict"] == 4


def test_infill_of_a_plain_prompt_is_all_prefix(server):
    server.route("POST", "/infill", sse("llamacpp_infill_stream.sse"))
    run(remote(server, LlamaCppInfill()), GenerationRequest(prompt="def fib(n):\n"))
    body = server.last.body
    assert (body["input_prefix"], body["input_suffix"], body["prompt"]) == ("def fib(n):\n", "", "")
    assert body["input_extra"] == []


def test_infill_error_event_mid_stream(server):
    server.route("POST", "/infill", sse("llamacpp_infill_stream_error.sse"))
    with pytest.raises(EngineError, match="got exception: vector::_M_range_check"):
        run(remote(server, LlamaCppInfill()), fim_request(SERVER_SIDE))


def test_infill_prompt_too_long_is_an_http_error(server):
    server.route("POST", "/infill", answer("llamacpp_error_context.json", 400))
    with pytest.raises(RemoteError) as info:
        run(remote(server, LlamaCppInfill(), retries=2), fim_request(SERVER_SIDE))
    assert "HTTP 400: request (4200 tokens) exceeds the available context size" in str(info.value)
    assert len(server.seen) == 1  # a request error: not retried


# -- the token ---------------------------------------------------------------------------
def test_the_token_file_is_sent_and_read_again_when_it_changes(server, tmp_path):
    server.route("POST", "/generate_stream", sse("tgi_generate_stream.sse"))
    path = tmp_path / "token"
    path.write_text("first-token\n")
    engine = remote(server, TgiGenerate(), token=TokenFile(str(path)))
    run(engine, fim_request())
    assert server.last.headers["authorization"] == "Bearer first-token"
    path.write_text("the-renewed-token\n")
    run(engine, fim_request())
    assert server.last.headers["authorization"] == "Bearer the-renewed-token"
    path.unlink()
    count = len(server.seen)
    with pytest.raises(EngineError, match="cannot read the endpoint token file") as info:
        run(engine, fim_request())
    assert "engine.api_token_file" in info.value.hint
    assert len(server.seen) == count  # nothing was sent without the token
    assert engine.breaker.state == "closed"  # not the endpoint's fault


# -- model discovery ------------------------------------------------------------------------
def test_discover_vllm_models(server):
    server.route("GET", "/v1/models", answer("openai_vllm_models.json"))
    engine = remote(server, OpenAICompletions())
    assert engine.discover() == "bigcode/starcoder2-3b"
    assert engine.fim_template is STARCODER
    assert engine.info().model == "bigcode/starcoder2-3b"
    # the discovered name is the model of the requests
    server.route("POST", "/v1/completions", sse("openai_vllm_completions_stream.sse"))
    run(engine, fim_request(STARCODER))
    assert server.last.body["model"] == "bigcode/starcoder2-3b"


def test_discover_llamacpp_models(server):
    server.route("GET", "/v1/models", answer("llamacpp_models.json"))
    engine = remote(server, OpenAICompletions())
    assert engine.discover() == LLAMA_MODEL
    assert engine.fim_template is QWEN


def test_discover_tgi_info(server):
    server.route("GET", "/info", answer("tgi_info.json"))
    engine = remote(server, TgiGenerate())
    assert engine.discover() == "Qwen/Qwen2.5-Coder-1.5B"
    assert engine.fim_template is QWEN
    assert server.last.method == "GET" and server.last.path == "/info"


def test_discover_infill_props(server):
    server.route("GET", "/props", answer("llamacpp_props.json"))
    engine = remote(server, LlamaCppInfill())
    assert engine.discover() == LLAMA_MODEL
    assert engine.fim_template is SERVER_SIDE  # the server builds the prompt


def test_the_template_is_detected_in_the_background(server):
    server.route("GET", "/info", answer("tgi_info.json"))
    engine = remote(server, TgiGenerate())
    found = engine.fim_template  # asks the endpoint, does not wait for it
    deadline = time.monotonic() + 5
    while found is None and time.monotonic() < deadline:
        time.sleep(0.02)
        found = engine.fim_template
    assert found is QWEN
    assert [s.path for s in server.seen] == ["/info"]  # asked once


def test_a_configured_model_or_template_needs_no_discovery(server):
    engine = remote(server, OpenAICompletions(), model="Qwen/Qwen2.5-Coder-7B")
    assert engine.fim_template is QWEN
    engine = remote(server, OpenAICompletions(), fim_template=STARCODER)
    assert engine.fim_template is STARCODER
    time.sleep(0.05)
    assert server.seen == []


def test_discovery_failing_is_not_an_error(server):
    engine = remote(server, OpenAICompletions())  # /v1/models answers 404 here
    assert engine.discover() == ""
    assert engine.fim_template is None
    assert engine.info().model == "(served model)"


# -- the files themselves ---------------------------------------------------------------
def test_every_wire_file_says_whether_it_was_recorded_or_written_by_hand():
    names = sorted(p.name for p in WIRE.iterdir())
    assert names
    for name in names:
        head = (WIRE / name).read_bytes()
        assert head.startswith(KINDS), f"{name}: the header must start with one of {KINDS}"
        if head.startswith(KINDS[0]):
            # a recording names the command that made it, the date and the request
            header = head.split(b"\n\n", 1)[0].decode()
            assert "by `python tests/support/record_wire.py`" in header, name
            assert "# request: " in header and "# answer: HTTP " in header, name
        wire(name)  # and the blank line after the header is there
