"""FallbackEngine with real engines: the primary is a RemoteEngine whose endpoint is down
(a port nobody listens on) or misbehaves; the fallback is a second RemoteEngine on a
real HTTP server on 127.0.0.1 replaying a recorded llama.cpp stream (and, with the real
default model, the local llama.cpp engine)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from support.localhttp import LocalServer, free_port, started_servers
from support.wire import wire

from engine.base import CancelToken, EngineError, FimParts, GenerationRequest, StopReason
from engine.fallback import FallbackEngine
from engine.fim import QWEN, STARCODER, FimTemplate
from engine.remote.breaker import CircuitBreaker
from engine.remote.engine import RemoteEngine, server_stops
from engine.remote.http import Endpoint
from engine.remote.openai import OpenAICompletions
from engine.remote.tgi import TgiGenerate

# recorded from llama-server: " fib(n-1) + fib(n-2)", 21 prompt tokens
LLAMACPP = wire("openai_llamacpp_completions_stream.sse")
# written by hand: " fib(n - 1)", finish_reason length (differs from LLAMACPP on purpose)
VLLM = wire("openai_vllm_completions_stream.sse")
TGI_ERROR = wire("tgi_generate_stream_error.sse")  # " fib", "(n", then an error event


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        self.server.bodies.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for event in self.server.answer.split(b"\n\n"):
                if event:
                    data = event + b"\n\n"
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass


class Server(LocalServer):
    def __init__(self, answer: bytes, port: int = 0) -> None:
        super().__init__(Handler, port, answer=answer, bodies=[])

    @property
    def bodies(self) -> list[dict]:
        return self.httpd.bodies


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    with started_servers(Server) as start:
        yield start


def remote(url: str, template: FimTemplate | None, api=None) -> RemoteEngine:
    return RemoteEngine(
        api or OpenAICompletions(),
        Endpoint(url, connect_timeout=2, read_timeout=10),
        fim_template=template,
        retries=0,
        breaker=CircuitBreaker(failures=100),
    )


class Fallbacks:
    """make_fallback for FallbackEngine, counting how often it is called."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return self.make()


PARTS = FimParts(
    prefix="def fib(n):\n    if n < 2:\n        return n\n", suffix="\n", middle_head="    return"
)


def request(template: FimTemplate = STARCODER, **kw) -> GenerationRequest:
    kw.setdefault("stop", (*template.stop_words, "\n"))
    kw.setdefault("max_tokens", 16)
    prompt = template.build(PARTS.prefix, PARTS.suffix, PARTS.middle_head)
    return GenerationRequest(prompt=prompt, fim=PARTS, **kw)


def generate(engine, req: GenerationRequest, cancel: CancelToken | None = None) -> str:
    return "".join(engine.stream(req, cancel or CancelToken()))


def test_the_fallback_answers_while_the_endpoint_is_down(serve):
    local = serve(LLAMACPP)
    fallbacks = Fallbacks(lambda: remote(local.url, STARCODER))
    switches: list[str] = []
    engine = FallbackEngine(
        remote(f"http://127.0.0.1:{free_port()}", STARCODER), fallbacks, switches.append
    )
    assert generate(engine, request()) == " fib(n-1) + fib(n-2)"
    assert engine.using_fallback
    assert engine.last_stats.prompt_tokens == 21  # the fallback's statistics
    assert engine.last_stats.stop_reason is StopReason.END_OF_TEXT
    assert engine.info().details["fallback"] == "local (in use)"
    assert len(switches) == 1
    assert "not running" in switches[0] and "local model answers" in switches[0]
    # same templates: the request goes over unchanged
    assert local.bodies[0]["prompt"] == request().prompt
    # the next request: no second notice, the same fallback instance (made once, up front)
    assert generate(engine, request()) == " fib(n-1) + fib(n-2)"
    assert len(switches) == 1 and fallbacks.calls == 1


def test_the_prompt_is_rebuilt_in_the_fallbacks_format(serve):
    local = serve(LLAMACPP)
    engine = FallbackEngine(
        remote(f"http://127.0.0.1:{free_port()}", STARCODER),
        lambda: remote(local.url, QWEN),
    )
    assert engine.fim_template is STARCODER  # what the pipeline builds prompts with
    assert generate(engine, request(STARCODER)) == " fib(n-1) + fib(n-2)"
    sent = local.bodies[0]
    assert sent["prompt"] == QWEN.build(PARTS.prefix, PARTS.suffix, PARTS.middle_head)
    assert "<fim_prefix>" not in sent["prompt"]
    # the primary's template stop words are replaced by the fallback's; others kept
    assert sent["stop"] == server_stops((*QWEN.stop_words, "\n"))
    assert not set(sent["stop"]) & (set(STARCODER.stop) - set(QWEN.stop))


def test_a_plain_prompt_goes_to_the_fallback_unchanged(serve):
    local = serve(LLAMACPP)
    engine = FallbackEngine(
        remote(f"http://127.0.0.1:{free_port()}", STARCODER),
        lambda: remote(local.url, QWEN),
    )
    generate(engine, GenerationRequest(prompt="def fib(n):\n", stop=("\n",)))
    assert local.bodies[0]["prompt"] == "def fib(n):\n"
    assert local.bodies[0]["stop"] == ["\n"]


def test_the_endpoint_back_takes_over_again(serve):
    port = free_port()
    local = serve(LLAMACPP)
    switches: list[str] = []
    engine = FallbackEngine(
        remote(f"http://127.0.0.1:{port}", STARCODER),
        lambda: remote(local.url, QWEN),
        switches.append,
    )
    generate(engine, request())
    assert engine.using_fallback and len(switches) == 1
    endpoint = serve(VLLM, port=port)  # the endpoint is back
    assert generate(engine, request()) == " fib(n - 1)"
    assert not engine.using_fallback
    assert len(switches) == 2 and "endpoint is back" in switches[1]
    assert len(endpoint.bodies) == 1 and len(local.bodies) == 1
    assert engine.last_stats.stop_reason is StopReason.MAX_TOKENS  # the endpoint's stats
    assert engine.info().details["fallback"] == "local"
    generate(engine, request())
    assert len(switches) == 2


def test_a_failure_after_text_was_shown_is_not_handed_over(serve):
    endpoint = serve(TGI_ERROR)
    local = serve(LLAMACPP)
    fallbacks = Fallbacks(lambda: remote(local.url, QWEN))
    switches: list[str] = []
    engine = FallbackEngine(
        remote(endpoint.url, STARCODER, TgiGenerate()), fallbacks, switches.append
    )
    pieces: list[str] = []
    with pytest.raises(EngineError, match="CUDA out of memory"):
        for piece in engine.stream(request(), CancelToken()):
            pieces.append(piece)
    assert pieces == [" fib", "(n"]
    assert local.bodies == [] and switches == [] and not engine.using_fallback


def test_a_cancelled_request_is_not_handed_over(serve):
    local = serve(LLAMACPP)
    fallbacks = Fallbacks(lambda: remote(local.url, QWEN))
    engine = FallbackEngine(remote(f"http://127.0.0.1:{free_port()}", STARCODER), fallbacks)
    cancel = CancelToken()
    cancel.cancel()
    assert generate(engine, request(), cancel) == ""
    assert local.bodies == [] and not engine.using_fallback
    assert engine.last_stats.stop_reason is StopReason.CANCELLED


def test_the_fallbacks_template_while_the_endpoint_cannot_tell(serve):
    local = serve(LLAMACPP)
    primary = remote(f"http://127.0.0.1:{free_port()}", None)  # would ask the endpoint
    engine = FallbackEngine(primary, lambda: remote(local.url, QWEN))
    assert engine.fim_template is QWEN
    configured = FallbackEngine(
        remote(f"http://127.0.0.1:{free_port()}", STARCODER), lambda: remote(local.url, QWEN)
    )
    assert configured.fim_template is STARCODER


def test_a_fallback_that_cannot_start_names_both_problems():
    def broken():
        raise EngineError(
            "the model file /models/missing.gguf does not exist.", "Run safecoder-lsp pull."
        )

    switches: list[str] = []
    engine = FallbackEngine(
        remote(f"http://127.0.0.1:{free_port()}", STARCODER), broken, switches.append
    )
    with pytest.raises(EngineError) as info:
        generate(engine, request())
    message = info.value.message
    assert "not running" in message  # the endpoint's problem
    assert "could not start either" in message and "missing.gguf does not exist" in message
    assert info.value.hint == "Run safecoder-lsp pull."
    assert switches == [] and not engine.using_fallback


@pytest.mark.model
def test_the_real_local_engine_as_the_fallback(engine):
    switches: list[str] = []
    assert engine.fim_template is not None
    fallback = FallbackEngine(
        remote(f"http://127.0.0.1:{free_port()}", STARCODER), lambda: engine, switches.append
    )
    text = generate(fallback, request(max_tokens=4))
    assert fallback.using_fallback and len(switches) == 1
    assert fallback.last_stats is engine.last_stats
    assert fallback.last_stats.prompt_tokens > 0
    assert "<fim_" not in text and "<|fim" not in text
