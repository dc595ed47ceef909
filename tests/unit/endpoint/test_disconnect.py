"""Clients that hang up: a stream whose reader went away, a whole answer nobody waits
for any more, a request still in the queue. Each is cancelled at once (the engine
counts it cancelled or dropped, not completed), the metrics count it, and the
engine serves the next request right away."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from endpoint_client import FIM_PROMPT, start

from engine.base import CancelToken, GenerationRequest

pytestmark = pytest.mark.model

# greedy decoding keeps counting: no end of text before max_tokens
COUNTING = "numbers = [" + ", ".join(str(i) for i in range(1, 30)) + ","


@pytest.fixture(scope="module")
def served(backend, tmp_path_factory):
    running = start(backend, tmp_path_factory.mktemp("disconnect"))
    yield running
    running.stop()


def send(served, body: dict) -> socket.socket:
    data = json.dumps(body).encode()
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=30)
    head = (
        "POST /v1/completions HTTP/1.1\r\nHost: test\r\n"
        f"Authorization: Bearer {served.secrets['alice']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    sock.sendall(head.encode() + data)
    return sock


def wait_for(predicate, timeout: float = 30.0) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, "timed out"
        time.sleep(0.01)
    return time.monotonic() - started


def gone_count(served) -> float:
    for line in served.metrics().splitlines():
        if line.startswith("safecoder_endpoint_client_gone_total "):
            return float(line.split()[1])
    raise AssertionError("no client_gone metric")


def sample(served, name: str) -> float:
    """A sample's value in /metrics (0 when it is not there yet)."""
    for line in served.metrics().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


CLOSED = 'safecoder_endpoint_completions_total{token="alice",finish_reason="client_closed"}'
GENERATED = 'safecoder_endpoint_generated_tokens_total{token="alice"}'


def test_a_stream_whose_client_hangs_up_is_cancelled(served, backend):
    before = backend.stats()
    gone = gone_count(served)
    closed, generated = sample(served, CLOSED), sample(served, GENERATED)
    sock = send(served, {"prompt": COUNTING, "max_tokens": 256, "stream": True})
    received = b""
    while b"data: " not in received:
        received += sock.recv(4096)
    assert received.startswith(b"HTTP/1.1 200")
    sock.close()
    stopped_in = wait_for(lambda: backend.stats()["active"] == 0)
    after = backend.stats()
    assert after["cancelled"] == before["cancelled"] + 1  # not generated to the end
    assert after["completed"] == before["completed"]
    assert stopped_in < 5  # 256 tokens would take several times longer
    wait_for(lambda: gone_count(served) == gone + 1)
    # It was served up to there: counted for its token (our language server closes the
    # stream like this once the line is complete).
    wait_for(lambda: sample(served, CLOSED) == closed + 1)
    assert sample(served, GENERATED) > generated
    started = time.monotonic()
    answer = served.complete(prompt=FIM_PROMPT, max_tokens=2)
    assert answer.status == 200
    assert time.monotonic() - started < 5


def test_a_whole_answer_nobody_waits_for_is_cancelled(served, backend):
    before = backend.stats()
    gone = gone_count(served)
    sock = send(served, {"prompt": COUNTING, "max_tokens": 256})
    wait_for(lambda: backend.stats()["active"] == 1)
    time.sleep(0.1)  # a few tokens in
    sock.close()
    wait_for(lambda: backend.stats()["active"] == 0, timeout=5)
    after = backend.stats()
    assert after["cancelled"] == before["cancelled"] + 1
    assert after["completed"] == before["completed"]
    wait_for(lambda: gone_count(served) == gone + 1)
    wait_for(lambda: 'status="499"' in served.metrics())  # logged and counted, never sent


def test_a_request_whose_client_hangs_up_in_the_queue_never_runs(served, backend):
    release = threading.Event()
    held = backend.submit(
        GenerationRequest("x = 1", max_tokens=2, should_stop=lambda _: not release.wait(30)),
        CancelToken(),
        user="holder",
    )
    try:
        wait_for(lambda: backend.stats()["active"] == 1)
        before = backend.stats()
        closed = sample(served, CLOSED)
        sock = send(served, {"prompt": COUNTING, "max_tokens": 8})
        wait_for(lambda: backend.stats()["queued"] == 1)
        sock.close()
        wait_for(lambda: backend.stats()["queued"] == 0, timeout=5)  # while the engine is held
        assert backend.stats()["dropped"] == before["dropped"] + 1
        time.sleep(0.2)
        assert sample(served, CLOSED) == closed  # nothing was generated for it
    finally:
        release.set()
    "".join(held)
    wait_for(lambda: backend.stats()["active"] == 0)
    assert served.complete(prompt=FIM_PROMPT, max_tokens=2).status == 200
