"""Endpoint faults through RemoteEngine, for real: ports nobody listens on, servers on
127.0.0.1 that answer 5xx/401/429, stall, send garbage, drop the connection, restart;
the retries, the circuit breaker and cancellation. Nothing of ours is mocked; connection
attempts are counted with an audit hook on ``socket.connect``."""

from __future__ import annotations

import contextlib
import select
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from support.localhttp import LocalServer, free_port, started_servers
from support.wire import wire

from engine.base import CancelToken, EngineError, GenerationRequest, StopReason
from engine.remote.breaker import BreakerOpen, CircuitBreaker
from engine.remote.engine import RemoteEngine
from engine.remote.http import Endpoint, RemoteError
from engine.remote.tgi import TgiGenerate

STREAM = wire("tgi_generate_stream.sse")  # TGI's answer, 13 text tokens then EOS
EVENTS = [e + b"\n\n" for e in STREAM.split(b"\n\n") if e]
TEXT = " fib(n - 1) + fib(n - 2)\n"

# -- connection attempts, seen by an audit hook (hooks cannot be removed: it stays cheap)
_CONNECTS: list[tuple[str, int]] = []


def _audit(event: str, args: tuple) -> None:
    if event == "socket.connect" and isinstance(args[1], tuple):
        _CONNECTS.append(args[1][:2])


sys.addaudithook(_audit)


def connects_to(port: int) -> int:
    return sum(1 for _, p in _CONNECTS if p == port)


# -- a scripted server ----------------------------------------------------------------
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.do_POST()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.hits += 1
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.server.behave(self)

    # what a behaviour uses
    def reply(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")

    def stream(self, events: list[bytes] = EVENTS) -> None:
        self.start_stream()
        for event in events:
            self.chunk(event)
        self.end_stream()

    def client_gone_within(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the client to close its end."""
        ready, _, _ = select.select([self.connection], [], [], seconds)
        return bool(ready) and self.connection.recv(1, socket.MSG_PEEK) == b""


class Server(LocalServer):
    def __init__(self, behave: Callable[[Handler], None], port: int = 0) -> None:
        super().__init__(Handler, port, behave=behave, hits=0)

    @property
    def hits(self) -> int:
        return self.httpd.hits


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    with started_servers(Server) as start:
        yield start


def remote(url: str, **kw) -> RemoteEngine:
    endpoint = Endpoint(url, connect_timeout=2, read_timeout=kw.pop("read_timeout", 10))
    kw.setdefault("retries", 0)
    kw.setdefault("backoff_s", 0.01)
    return RemoteEngine(TgiGenerate(), endpoint, **kw)


def request(**kw) -> GenerationRequest:
    return GenerationRequest(prompt="def fib(n):\n", **kw)


def generate(engine: RemoteEngine, cancel: CancelToken | None = None, **kw) -> str:
    return "".join(engine.stream(request(**kw), cancel or CancelToken()))


# -- the endpoint is down -----------------------------------------------------------------
def test_an_endpoint_that_is_down_is_retried_with_backoff_then_reported():
    port = free_port()
    engine = remote(f"http://127.0.0.1:{port}", retries=2, backoff_s=0.1)
    before = connects_to(port)
    started = time.monotonic()
    with pytest.raises(RemoteError, match="is not running") as info:
        generate(engine)
    elapsed = time.monotonic() - started
    assert connects_to(port) - before == 3  # the first try and 2 retries
    assert elapsed >= 0.25  # backoff 0.1 s then 0.2 s
    assert "engine.url" in info.value.hint
    assert info.value.retryable and info.value.endpoint_fault


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_gateway_or_overload_status_is_retried(serve, status):
    def behave(h: Handler) -> None:
        if h.server.hits <= 2:
            h.reply(status, b'{"error":"the model is loading","error_type":"unhealthy"}')
        else:
            h.stream()

    server = serve(behave)
    engine = remote(server.url, retries=2)
    assert generate(engine) == TEXT
    assert server.hits == 3
    assert engine.breaker.state == "closed"


def test_retries_run_out(serve):
    server = serve(lambda h: h.reply(503, b'{"error":"the model is loading"}'))
    with pytest.raises(RemoteError, match="HTTP 503: the model is loading"):
        generate(remote(server.url, retries=1))
    assert server.hits == 2


def test_a_server_error_is_not_retried(serve):
    server = serve(lambda h: h.reply(500, b"internal trouble", "text/plain"))
    with pytest.raises(RemoteError) as info:
        generate(remote(server.url, retries=3))
    assert "answered HTTP 500: internal trouble" in info.value.message
    assert "endpoint's log" in info.value.hint
    assert server.hits == 1
    assert info.value.endpoint_fault and not info.value.retryable


def test_a_refused_token_names_the_token_file_and_does_not_trip_the_breaker(serve):
    server = serve(lambda h: h.reply(401, b'{"error":"invalid token"}'))
    engine = remote(server.url, retries=3, breaker=CircuitBreaker(failures=2))
    for _ in range(4):
        with pytest.raises(RemoteError) as info:
            generate(engine)
        assert "refused the token (HTTP 401: invalid token)" in info.value.message
        assert "engine.api_token_file" in info.value.hint
    assert server.hits == 4  # never retried, never cut off by the breaker
    assert engine.breaker.state == "closed"


def test_rate_limiting_is_reported_and_not_retried(serve):
    body = wire("tgi_error_overloaded.json")
    server = serve(lambda h: h.reply(429, body))
    with pytest.raises(RemoteError) as info:
        generate(remote(server.url, retries=3))
    assert "rate limiting" in info.value.message and "Model is overloaded" in info.value.message
    assert server.hits == 1


# -- too slow --------------------------------------------------------------------------------
def test_the_time_budget_ends_a_stream_whose_first_token_is_late(serve):
    def behave(h: Handler) -> None:
        h.start_stream()
        if not h.client_gone_within(3):
            h.chunk(EVENTS[1])
            h.end_stream()

    server = serve(behave)
    engine = remote(server.url, breaker=CircuitBreaker(failures=1, cooldown_s=60))
    started = time.monotonic()
    text = generate(engine, time_budget_s=0.3)
    assert time.monotonic() - started < 1.5
    assert text == ""
    assert engine.last_stats.stop_reason is StopReason.TIME_BUDGET
    # not a word within the budget counts against the endpoint
    assert engine.breaker.state == "open"


def test_the_time_budget_ends_a_request_whose_answer_is_late(serve):
    def behave(h: Handler) -> None:
        if not h.client_gone_within(2.5):
            h.stream()

    server = serve(behave)
    engine = remote(server.url)
    started = time.monotonic()
    text = generate(engine, time_budget_s=0.3)
    assert time.monotonic() - started < 1.5  # the headers never came: the budget still holds
    assert text == ""
    assert engine.last_stats.stop_reason is StopReason.TIME_BUDGET


def test_an_endpoint_that_does_not_answer_in_time(serve):
    def behave(h: Handler) -> None:
        if not h.client_gone_within(3):
            h.stream()

    server = serve(behave)
    started = time.monotonic()
    with pytest.raises(RemoteError, match="did not answer in time") as info:
        generate(remote(server.url, read_timeout=0.3, retries=2))
    assert time.monotonic() - started < 2
    assert "engine.read_timeout_ms" in info.value.hint
    assert server.hits == 1  # a hung endpoint is not asked again at once
    assert info.value.endpoint_fault


def test_a_stream_that_stalls_after_some_text(serve):
    def behave(h: Handler) -> None:
        h.start_stream()
        h.chunk(EVENTS[1])
        h.client_gone_within(3)

    server = serve(behave)
    pieces: list[str] = []
    with pytest.raises(RemoteError, match="did not answer in time"):
        for piece in remote(server.url, read_timeout=0.3).stream(request(), CancelToken()):
            pieces.append(piece)
    assert pieces == [" fib"]


# -- garbage ---------------------------------------------------------------------------------
def test_malformed_json(serve):
    server = serve(lambda h: h.reply(200, b"<html>a proxy login page</html>", "text/html"))
    with pytest.raises(RemoteError, match="malformed JSON") as info:
        generate(remote(server.url, streaming=False))
    assert "engine.kind" in info.value.hint


def test_a_malformed_stream_event(serve):
    server = serve(lambda h: h.stream([EVENTS[1], b'data:{"index":2,"token":{"te\n\n']))
    pieces: list[str] = []
    with pytest.raises(RemoteError, match="malformed stream event"):
        for piece in remote(server.url).stream(request(), CancelToken()):
            pieces.append(piece)
    assert pieces == [" fib"]


# -- dropped connections, restarts -------------------------------------------------------------
def test_a_stream_that_breaks_off_is_an_error_and_not_retried(serve):
    def behave(h: Handler) -> None:
        h.start_stream()
        h.chunk(EVENTS[1])
        h.chunk(EVENTS[2])
        h.connection.shutdown(socket.SHUT_RDWR)  # no terminating chunk: the process died

    server = serve(behave)
    pieces: list[str] = []
    with pytest.raises(RemoteError, match="broke off") as info:
        for piece in remote(server.url, retries=3).stream(request(), CancelToken()):
            pieces.append(piece)
    assert pieces == [" fib", "(n"]
    assert not info.value.retryable
    assert server.hits == 1


def test_a_connection_dropped_before_the_answer_is_retried(serve):
    def behave(h: Handler) -> None:
        if h.server.hits == 1:
            h.connection.shutdown(socket.SHUT_RDWR)  # e.g. a proxy restarting
            h.close_connection = True
        else:
            h.stream()

    server = serve(behave)
    assert generate(remote(server.url, retries=1)) == TEXT
    assert server.hits == 2


def test_an_endpoint_that_restarts(serve):
    server = serve(lambda h: h.stream())
    engine = remote(server.url, breaker=CircuitBreaker(failures=100))
    assert generate(engine) == TEXT
    server.stop()
    with pytest.raises(RemoteError, match="not running"):
        generate(engine)
    again = serve(lambda h: h.stream(), port=server.port)
    assert generate(engine) == TEXT
    assert again.hits == 1


# -- the circuit breaker --------------------------------------------------------------------
def test_the_breaker_opens_after_repeated_faults_then_lets_one_trial_through(serve):
    port = free_port()
    breaker = CircuitBreaker(failures=3, cooldown_s=0.3)
    engine = remote(f"http://127.0.0.1:{port}", breaker=breaker)
    for _ in range(3):
        with pytest.raises(RemoteError, match="not running"):
            generate(engine)
    assert breaker.state == "open"
    before = connects_to(port)
    started = time.monotonic()
    with pytest.raises(BreakerOpen) as info:
        generate(engine)
    assert time.monotonic() - started < 0.1
    assert connects_to(port) == before  # no connection was even tried
    assert "failed 3 times in a row" in info.value.message
    assert "not running" in info.value.message  # the last error, for the user
    assert engine.info().details["circuit"] == "open"

    time.sleep(0.35)  # the cool-down ends: one trial call, which fails: open for longer
    assert breaker.state == "half-open"
    with pytest.raises(RemoteError, match="not running"):
        generate(engine)
    assert connects_to(port) == before + 1
    with pytest.raises(BreakerOpen):
        generate(engine)
    time.sleep(0.2)
    assert breaker.state == "open"  # the cool-down doubled to 0.6 s
    time.sleep(0.45)

    server = serve(lambda h: h.stream(), port=port)  # back: the trial succeeds and closes it
    assert generate(engine) == TEXT
    assert breaker.state == "closed"
    assert generate(engine) == TEXT
    assert server.hits == 2


def test_while_the_trial_call_runs_other_calls_fail_fast(serve):
    port = free_port()
    breaker = CircuitBreaker(failures=1, cooldown_s=0.1)
    engine = remote(f"http://127.0.0.1:{port}", breaker=breaker)
    with pytest.raises(RemoteError):
        generate(engine)
    time.sleep(0.15)
    release = threading.Event()

    def behave(h: Handler) -> None:
        release.wait(5)
        h.stream()

    server = serve(behave, port=port)
    trial = threading.Thread(target=generate, args=(engine,))
    trial.start()
    deadline = time.monotonic() + 5
    while server.hits == 0 and time.monotonic() < deadline:
        time.sleep(0.01)  # until the trial waits for its answer
    with pytest.raises(BreakerOpen):
        generate(remote(f"http://127.0.0.1:{port}", breaker=breaker))
    release.set()
    trial.join(5)
    assert breaker.state == "closed"


# -- cancel -----------------------------------------------------------------------------------
def test_cancel_mid_stream_returns_at_once_and_closes_the_connection(serve):
    closed = threading.Event()

    def behave(h: Handler) -> None:
        h.start_stream()
        h.chunk(EVENTS[1])
        if h.client_gone_within(5):  # slow between tokens
            closed.set()
        else:
            h.chunk(EVENTS[2])
            h.end_stream()

    server = serve(behave)
    engine = remote(server.url)
    cancel = CancelToken()
    stream = engine.stream(request(), cancel)
    assert next(stream) == " fib"
    when: list[float] = []

    def cancel_now() -> None:
        when.append(time.monotonic())
        cancel.cancel()

    threading.Timer(0.2, cancel_now).start()
    rest = list(stream)  # blocked reading the next token until the cancel
    returned = time.monotonic()
    assert rest == []
    assert returned - when[0] < 0.5
    assert engine.last_stats.stop_reason is StopReason.CANCELLED
    assert closed.wait(2)  # the endpoint saw the client go away
    assert engine.breaker.state == "closed"


def test_cancel_while_waiting_for_the_answer_returns_at_once(serve):
    # llama.cpp server and Ollama send their headers only with the first token, after
    # evaluating the prompt: a cancel must not wait for that.
    closed = threading.Event()

    def behave(h: Handler) -> None:
        if h.client_gone_within(2.5):
            closed.set()
        else:
            h.stream()

    server = serve(behave)
    engine = remote(server.url)
    cancel = CancelToken()
    threading.Timer(0.2, cancel.cancel).start()
    started = time.monotonic()
    assert generate(engine, cancel) == ""
    assert time.monotonic() - started < 0.8
    assert engine.last_stats.stop_reason is StopReason.CANCELLED
    assert closed.wait(2)


def test_cancel_during_the_retry_backoff(serve):
    port = free_port()
    engine = remote(f"http://127.0.0.1:{port}", retries=5, backoff_s=2.0)
    cancel = CancelToken()
    threading.Timer(0.2, cancel.cancel).start()
    started = time.monotonic()
    assert generate(engine, cancel) == ""
    assert time.monotonic() - started < 0.7
    assert engine.last_stats.stop_reason is StopReason.CANCELLED
    assert connects_to(port) >= 1


def test_a_cancelled_request_does_not_count_against_the_endpoint(serve):
    port = free_port()
    engine = remote(f"http://127.0.0.1:{port}", breaker=CircuitBreaker(failures=1))
    cancel = CancelToken()
    cancel.cancel()
    assert generate(engine, cancel) == ""
    assert engine.breaker.state == "closed"
    with pytest.raises(EngineError):
        generate(engine)
    assert engine.breaker.state == "open"
