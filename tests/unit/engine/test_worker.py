"""One worker owns the engine: newest request per document wins."""

import asyncio
import concurrent.futures

import pytest

from engine.base import EngineError, GenerationRequest, StopReason
from engine.fim import QWEN
from engine.worker import EngineWorker, WorkerState

pytestmark = pytest.mark.model

PROMPT = QWEN.build("def add(a, b):\n", "\n", "    return ")


@pytest.fixture(scope="module")
def worker(engine):
    w = EngineWorker(lambda: engine)
    w.start()
    assert w.wait_ready(30)
    yield w
    # The engine fixture owns the model; stop the thread without closing it twice.
    w.engine = None
    w.close()


def test_ten_rapid_requests_only_the_newest_runs_to_the_end(worker):
    done_before = worker.completed_jobs
    jobs = [
        worker.submit("file:///a.py", GenerationRequest(PROMPT, max_tokens=40)) for _ in range(10)
    ]
    results = [j.future.result(timeout=60) for j in jobs]
    assert all(r.cancelled for r in results[:-1])
    assert not results[-1].cancelled
    assert "a + b" in results[-1].text
    # at most the first one started before it was superseded; the rest never ran
    ran_to_end = [r for r in results if r.stats.stop_reason is not StopReason.CANCELLED]
    assert len(ran_to_end) == 1
    assert worker.completed_jobs - done_before <= 2


def test_different_documents_do_not_cancel_each_other(worker):
    a = worker.submit("file:///a.py", GenerationRequest(PROMPT, max_tokens=4))
    b = worker.submit("file:///b.py", GenerationRequest(PROMPT, max_tokens=4))
    assert not a.future.result(timeout=60).cancelled
    assert not b.future.result(timeout=60).cancelled


async def test_asyncio_caller_cancels_the_job(worker):
    job = worker.submit("file:///c.py", GenerationRequest(PROMPT, max_tokens=200, stop=()))
    task = asyncio.ensure_future(asyncio.wrap_future(job.future))
    await asyncio.sleep(0.05)
    job.cancel()
    result = await asyncio.wait_for(task, 10)
    assert result.cancelled
    assert result.stats.generated_tokens < 200


def test_failed_load_fails_every_job_with_the_same_clear_error():
    def broken():
        raise EngineError("model file /x.gguf does not exist.", "Run `safecoder-lsp model pull`.")

    w = EngineWorker(broken)
    w.start()
    assert not w.wait_ready(10)
    assert w.state is WorkerState.FAILED
    job = w.submit("k", GenerationRequest("x"))
    with pytest.raises(EngineError, match="does not exist"):
        job.future.result(timeout=5)


def test_submit_after_close_is_refused():
    w = EngineWorker(lambda: None)  # type: ignore[arg-type,return-value]
    w.close()
    job = w.submit("k", GenerationRequest("x"))
    with pytest.raises((EngineError, concurrent.futures.CancelledError)):
        job.future.result(timeout=5)
