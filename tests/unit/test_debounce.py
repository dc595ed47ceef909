"""The adaptive debounce: pure timing rules (times passed in), then the service with the
real default model, where a burst of keystrokes faster than the engine reaches the
engine once."""

from __future__ import annotations

import asyncio

import pytest

from engine.worker import EngineWorker
from safecoder_lsp.completion.debounce import MIN_DELAY_MS, Debouncer
from safecoder_lsp.completion.service import CompletionService, CompletionSettings
from safecoder_lsp.documents import Document


def test_no_wait_before_anything_is_measured():
    d = Debouncer(300)
    d.arrived("a", 0.0)
    d.arrived("a", 0.05)
    assert d.delay("a") == 0  # no engine time known yet
    d2 = Debouncer(300)
    d2.answered(400)
    d2.arrived("a", 0.0)
    assert d2.delay("a") == 0  # one keystroke: no typing speed known


def test_typing_faster_than_the_engine_waits_about_one_and_a_half_gaps():
    d = Debouncer(300)
    d.answered(400)
    for i in range(5):
        d.arrived("a", i * 0.1)  # a keystroke every 100 ms
    assert d.delay("a") == pytest.approx(0.15)
    assert d.delay("b") == 0  # per document


def test_typing_slower_than_the_engine_never_waits():
    d = Debouncer(300)
    d.answered(80)
    for i in range(5):
        d.arrived("a", i * 0.2)
    assert d.delay("a") == 0


def test_the_wait_is_clamped_and_off_at_zero():
    d = Debouncer(300)
    d.answered(2000)
    for i in range(5):
        d.arrived("a", i * 0.9)
    assert d.delay("a") == pytest.approx(0.3)
    for i in range(5):
        d.arrived("b", 10 + i * 0.001)
    assert d.delay("b") == pytest.approx(MIN_DELAY_MS / 1000)
    d.max_ms = 0
    assert d.delay("a") == 0


def test_a_client_that_waits_for_each_answer_is_never_held_back():
    # Quick answers (typed-ahead hits) make short gaps, but nothing was left waiting.
    d = Debouncer(300)
    d.answered(400)
    for i in range(5):
        d.arrived("a", i * 0.005)
        d.finished("a")
    d.arrived("a", 0.03)
    assert d.delay("a") == 0
    # A keystroke while the last request is still being answered is held back.
    d.arrived("a", 0.035)
    assert d.delay("a") == pytest.approx(MIN_DELAY_MS / 1000)


def test_a_pause_resets_the_typing_speed():
    d = Debouncer(300)
    d.answered(400)
    for i in range(5):
        d.arrived("a", i * 0.05)
    assert d.delay("a") > 0
    d.arrived("a", 10.0)  # after ten seconds: the first keystroke goes at once
    assert d.delay("a") == 0


def test_a_newer_request_supersedes_and_forget_clears():
    d = Debouncer(300)
    t1 = d.arrived("a", 0.0)
    assert not d.superseded("a", t1)
    d.arrived("a", 0.01)
    assert d.superseded("a", t1)
    d.forget("a")
    assert d.delay("a") == 0 and d.arrived("a", 5.0) == 1


def _burst(debounce_ms: int, model_path) -> tuple[list[str], int]:
    """One answered request, then five keystrokes 20 ms apart; (sources of the five,
    engine jobs the five started)."""
    from engine.llamacpp import LlamaCppEngine

    worker = EngineWorker(lambda: LlamaCppEngine(model_path, n_ctx=1024))
    settings = CompletionSettings(debounce_max_ms=debounce_ms, cache_size=0)
    service = CompletionService(worker, settings)
    text = "def area(radius):\n    return "

    async def run() -> tuple[list[str], int]:
        doc = Document("file:///t.py", text, 1, "python")
        await service.complete(doc, len(text))  # the engine's speed is measured
        before = worker.completed_jobs + worker.cancelled_jobs + worker.dropped_jobs
        tasks = []
        for i in range(len("math.")):
            typed = text + "math."[: i + 1]
            d = Document("file:///t.py", typed, 2 + i, "python")
            tasks.append(asyncio.create_task(service.complete(d, len(typed))))
            await asyncio.sleep(0.02)
        results = await asyncio.gather(*tasks)
        after = worker.completed_jobs + worker.cancelled_jobs + worker.dropped_jobs
        return [r.source for r in results], after - before

    try:
        return asyncio.run(run())
    finally:
        worker.close()


def test_a_fast_burst_reaches_the_engine_at_its_start_and_end_only(model_path):
    # The first keystroke after the (slow) first answer goes at once: it follows a
    # pause. The next three wait and are superseded without an engine call.
    sources, jobs = _burst(300, model_path)
    assert sources[:4] == ["superseded"] * 4 and sources[4] == "engine"
    assert jobs == 2
    sources, jobs = _burst(0, model_path)  # the debounce off: every keystroke starts a job
    assert sources[4] == "engine" and jobs == 5
