"""SerialBackend with a scripted engine (no model needed; its fair queue:
tests/unit/engine/test_fairqueue.py): users take turns, a request cancelled while it
waits never runs, a running one stops, errors reach the caller (and the HTTP client),
close() ends everything."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from endpoint_client import start

from engine.base import (
    CancelToken,
    EngineError,
    EngineInfo,
    GenerationRequest,
    GenerationStats,
    StopReason,
)
from safecoder_lsp.endpoint.serial import SerialBackend


class ScriptedEngine:
    """Yields the prompt's characters, one per step; ``gate`` holds the first step."""

    def __init__(self, step_s: float = 0.005) -> None:
        self.step_s = step_s
        self.ran: list[str] = []
        self.gate = threading.Event()
        self.gate.set()
        self.closed = False
        self.fim_template = None
        self.last_stats = GenerationStats()

    def info(self) -> EngineInfo:
        return EngineInfo(kind="scripted", model="scripted", n_ctx=100)

    def count_tokens(self, text: str) -> int:
        return len(text)

    def stream(self, request: GenerationRequest, cancel: CancelToken) -> Iterator[str]:
        stats = self.last_stats = GenerationStats(prompt_tokens=len(request.prompt))
        self.ran.append(request.prompt)
        if request.prompt == "boom":
            raise EngineError("the engine broke", "restart it")
        if request.prompt == "late boom":
            yield "late"
            raise EngineError("the engine broke late")
        self.gate.wait(10)
        for ch in request.prompt[: request.max_tokens]:
            if cancel.cancelled:
                stats.stop_reason = StopReason.CANCELLED
                return
            time.sleep(self.step_s)
            stats.generated_tokens += 1
            yield ch
        stats.stop_reason = StopReason.MAX_TOKENS

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def engine():
    return ScriptedEngine()


@pytest.fixture
def backend(engine):
    b = SerialBackend(lambda: engine)
    yield b
    b.close()


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_one_users_queued_requests_do_not_push_another_user_to_the_end(engine, backend):
    engine.gate.clear()  # the first request holds the engine: the rest queue up
    first = backend.submit(GenerationRequest("hold"), CancelToken(), user="a")
    wait_for(lambda: backend.stats()["active"] == 1)
    gens = [backend.submit(GenerationRequest(f"a{i}"), CancelToken(), user="a") for i in (1, 2, 3)]
    gens.append(backend.submit(GenerationRequest("b1"), CancelToken(), user="b"))
    assert backend.stats()["queued"] == 4
    engine.gate.set()
    assert ["".join(g) for g in [first, *gens]] == ["hold", "a1", "a2", "a3", "b1"]
    assert engine.ran == ["hold", "a1", "b1", "a2", "a3"]  # b's one request went second
    assert all(g.stats is not None and g.error is None for g in gens)


def test_a_request_cancelled_while_queued_never_runs(engine, backend):
    engine.gate.clear()
    first = backend.submit(GenerationRequest("hold"), CancelToken(), user="a")
    wait_for(lambda: backend.stats()["active"] == 1)
    cancel = CancelToken()
    doomed = backend.submit(GenerationRequest("never"), cancel, user="b")
    cancel.cancel()
    assert list(doomed) == []  # returns without waiting for the engine
    assert doomed.stats is not None and doomed.stats.stop_reason is StopReason.CANCELLED
    assert backend.stats()["queued"] == 0
    engine.gate.set()
    assert "".join(first) == "hold"
    assert engine.ran == ["hold"]
    assert backend.stats()["dropped"] == 1


def test_a_running_request_stops_at_its_next_token(engine, backend):
    engine.step_s = 0.05
    cancel = CancelToken()
    gen = backend.submit(GenerationRequest("x" * 60, max_tokens=60), cancel, user="a")
    pieces = iter(gen)
    assert next(pieces) == "x"
    cancel.cancel()
    rest = list(pieces)
    assert len(rest) <= 2
    assert gen.stats is not None and gen.stats.stop_reason is StopReason.CANCELLED
    assert backend.stats()["cancelled"] == 1


def test_engine_errors_reach_the_caller_and_the_worker_goes_on(backend):
    broken = backend.submit(GenerationRequest("boom"), CancelToken(), user="a")
    assert list(broken) == []
    assert broken.error is not None and broken.error.hint == "restart it"
    fine = backend.submit(GenerationRequest("ok"), CancelToken(), user="a")
    assert "".join(fine) == "ok" and fine.error is None
    assert fine.stats is not None and fine.stats.generated_tokens == 2


def test_count_tokens_while_generating_and_info(engine, backend):
    engine.step_s = 0.02
    gen = backend.submit(GenerationRequest("abcdefgh"), CancelToken(), user="a")
    assert backend.count_tokens("four") == 4
    assert "".join(gen) == "abcdefgh"
    assert backend.info().n_ctx == 100


def test_close_cancels_waiting_requests_and_closes_the_engine(engine):
    backend = SerialBackend(lambda: engine)
    engine.gate.clear()
    running = backend.submit(GenerationRequest("hold"), CancelToken(), user="a")
    wait_for(lambda: backend.stats()["active"] == 1)
    waiting = backend.submit(GenerationRequest("later"), CancelToken(), user="b")
    closer = threading.Thread(target=backend.close)
    closer.start()
    assert list(waiting) == []
    engine.gate.set()
    closer.join(5)
    assert "".join(running) == ""  # cancelled before its first token
    assert engine.closed and engine.ran == ["hold"]
    late = backend.submit(GenerationRequest("x"), CancelToken())
    assert list(late) == [] and late.error is not None and "shutting down" in late.error.message


def test_a_model_that_cannot_load_fails_the_constructor():
    def broken():
        raise EngineError("model file /nope.gguf does not exist.", "Run model pull.")

    with pytest.raises(EngineError, match="does not exist"):
        SerialBackend(broken)


def test_engine_errors_over_http(backend, tmp_path):
    running = start(backend, tmp_path)
    try:
        whole = running.complete(prompt="boom")
        assert whole.status == 500
        error = whole.json()["error"]
        assert error["code"] == "engine_error" and "restart it" in error["message"]
        assert running.complete(prompt="boom", stream=True).status == 500
        late = running.complete(prompt="late boom", stream=True)
        assert late.status == 200  # the stream had begun: the error is its last event
        events = late.events()
        assert events[0]["choices"][0]["text"] == "late"
        assert events[-2]["error"]["message"] == "the engine broke late"
        assert events[-1] == "[DONE]"
        no_fim = running.complete(prompt="a", suffix="b")
        assert no_fim.status == 400 and "fill-in-the-middle" in no_fim.json()["error"]["message"]
        assert running.complete(prompt="fine", max_tokens=2).json()["choices"][0]["text"] == "fi"
    finally:
        running.stop()
