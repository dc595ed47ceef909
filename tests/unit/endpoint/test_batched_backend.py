"""``--slots 2``: the endpoint over engine/batched.py's BatchedEngine (chosen by
``make_backend``), with the real model: whole and streamed completions, two users at
once, and a client that hangs up."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from endpoint_client import FIM_PROMPT, free_text, start

from engine.batched import BatchedEngine
from safecoder_lsp.config import Config
from safecoder_lsp.endpoint.backends import make_backend

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def batched(model_path):
    config = Config().with_values(
        {"model.path": str(model_path), "engine.n_ctx": 2048, "engine.n_threads": 1}
    )
    backend = make_backend(config, slots=2)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def served(batched, tmp_path_factory):
    running = start(batched, tmp_path_factory.mktemp("batched"), users=("alice", "bob"))
    yield running
    running.stop()


def test_make_backend_picks_the_batched_engine(batched):
    assert isinstance(batched, BatchedEngine)
    assert batched.stats()["slots"] == 2


def test_completions_whole_and_streamed(served):
    whole = served.complete(prompt=FIM_PROMPT, max_tokens=5).json()
    text = whole["choices"][0]["text"]
    assert free_text(text).startswith("a+b")
    events = served.request(
        "POST", "/v1/completions", {"prompt": FIM_PROMPT, "max_tokens": 5, "stream": True}
    ).events()
    assert events[-1] == "[DONE]"
    assert "".join(e["choices"][0]["text"] for e in events[:-1]) == text


def test_two_users_at_once(served):
    answers: dict[str, int] = {}

    def ask(user: str) -> None:
        answers[user] = served.complete(token=user, prompt=FIM_PROMPT, max_tokens=5).status

    threads = [threading.Thread(target=ask, args=(u,)) for u in ("alice", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert answers == {"alice": 200, "bob": 200}


def test_a_client_that_hangs_up_is_cancelled(served, batched):
    body = json.dumps({"prompt": "numbers = [1, 2, 3, 4, 5, 6, 7,", "max_tokens": 256}).encode()
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=30)
    sock.sendall(
        b"POST /v1/completions HTTP/1.1\r\nHost: t\r\n"
        + f"Authorization: Bearer {served.secrets['alice']}\r\n".encode()
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    deadline = time.monotonic() + 30
    while batched.stats()["active"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    sock.close()
    deadline = time.monotonic() + 5
    while batched.stats()["active"]:
        assert time.monotonic() < deadline, "the generation went on after the client left"
        time.sleep(0.01)
    assert served.complete(prompt=FIM_PROMPT, max_tokens=2).status == 200
