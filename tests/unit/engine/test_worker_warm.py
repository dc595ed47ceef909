"""Warm-ups in the engine worker: a prefill job of the lowest priority that any
request stops between prompt chunks (engine/worker.py, LlamaCppEngine.prefill)."""

import textwrap
import threading
from pathlib import Path

import pytest

from engine.base import GenerationRequest, StopReason
from engine.fim import QWEN
from engine.llamacpp import LlamaCppEngine
from engine.worker import EngineWorker

CHUNK = 32  # the engine's prompt chunk; warm-ups evaluate half-size chunks
WARM_CHUNK = CHUNK // 2
SOURCE = Path(textwrap.__file__).read_text()
LONG = QWEN.prefix + SOURCE[:1600]  # several hundred tokens: many chunks
SHORT = QWEN.build("def add(a, b):\n", "\n", "    return ")


@pytest.fixture(scope="module")
def small_chunks(model_path):
    """A real engine that evaluates prompts 32 tokens at a time (warm-ups 16)."""
    eng = LlamaCppEngine(model_path, n_ctx=2048, eval_chunk=CHUNK)
    yield eng
    eng.close()


@pytest.fixture
def worker(small_chunks):
    w = EngineWorker(lambda: small_chunks)
    w.start()
    assert w.wait_ready(60)
    small_chunks._llm.n_tokens = 0  # every test starts with an empty KV cache
    yield w
    w.engine = None  # the fixture owns the model
    w.close()


def test_warm_up_evaluates_the_prompt_and_the_next_request_reuses_it(worker, small_chunks):
    warm = worker.submit_warm("file:///a.py", LONG)
    assert warm is not None
    stats = warm.future.result(timeout=300).stats
    n = len(small_chunks.tokenize(LONG))
    assert stats.stop_reason is None and stats.generated_tokens == 0
    assert stats.evaluated_tokens == n
    job = worker.submit("file:///a.py", GenerationRequest(LONG + "\n", max_tokens=1))
    real = job.future.result(timeout=300).stats
    assert real.reused_tokens >= n - 2
    assert real.evaluated_tokens <= 3
    assert worker.counters()["warm_jobs"] == 1


def test_a_request_stops_a_running_warm_up_within_one_chunk(worker, small_chunks):
    warm = worker.submit_warm("file:///a.py", LONG)
    assert warm is not None
    while warm.progress.evaluated_tokens < 2 * WARM_CHUNK:  # it runs
        assert not warm.future.done()
        threading.Event().wait(0.01)
    at_submit = warm.progress.evaluated_tokens
    job = worker.submit("file:///b.py", GenerationRequest(SHORT, max_tokens=2))
    stats = warm.future.result(timeout=300).stats
    assert stats.stop_reason is StopReason.CANCELLED
    # It finished at most the chunk it was in, then gave way.
    assert stats.evaluated_tokens <= at_submit + WARM_CHUNK
    assert stats.evaluated_tokens < len(small_chunks.tokenize(LONG))
    assert not job.future.result(timeout=300).cancelled
    assert worker.counters()["warm_preempted"] == 1


def test_a_warm_up_never_starts_while_a_request_waits_or_runs(worker):
    job = worker.submit("file:///a.py", GenerationRequest(SHORT, max_tokens=4, stop=()))
    warm = worker.submit_warm("file:///a.py", LONG)
    assert warm is not None
    seen: list[bool] = []
    # Runs on the worker thread as the request ends, before it takes another job.
    job.future.add_done_callback(lambda _: seen.append(warm.started))
    assert not job.future.result(timeout=300).cancelled
    assert warm.future.result(timeout=300).stats.stop_reason is None
    assert seen == [False]


def test_the_newest_warm_up_replaces_the_one_waiting(worker):
    blocker = worker.submit("file:///a.py", GenerationRequest(SHORT, max_tokens=4, stop=()))
    first = worker.submit_warm("file:///a.py", LONG)
    second = worker.submit_warm("file:///b.py", SHORT)
    assert first is not None and second is not None
    assert first.future.result(timeout=300).stats.stop_reason is StopReason.CANCELLED
    assert not first.started  # dropped unrun
    blocker.future.result(timeout=300)
    assert second.future.result(timeout=300).stats.stop_reason is None


def test_a_request_drops_the_warm_up_waiting_and_idle_only_warm_ups_wait_for_idle(worker):
    blocker = worker.submit("file:///a.py", GenerationRequest(SHORT, max_tokens=4, stop=()))
    assert worker.busy()
    assert worker.submit_warm("file:///a.py", LONG, only_if_idle=True) is None
    waiting = worker.submit_warm("file:///a.py", LONG)
    assert waiting is not None
    other = worker.submit("file:///b.py", GenerationRequest(SHORT, max_tokens=1))
    assert waiting.future.result(timeout=300).stats.stop_reason is StopReason.CANCELLED
    assert not waiting.started
    blocker.future.result(timeout=300)
    other.future.result(timeout=300)
    assert not worker.busy()
    assert worker.submit_warm("file:///a.py", SHORT, only_if_idle=True) is not None
