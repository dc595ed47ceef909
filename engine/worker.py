"""One worker thread owns one engine; requests queue to it.

- The engine is created on the worker thread (``factory``), so a slow model load
  never blocks the caller, and its state (loading / ready / failed) is observable.
- ``submit(key, request)`` returns a ``Job``. A newer job with the same key (a
  document URI) cancels older ones, queued or running: only the newest request
  for a document is generated to the end. Stale queued jobs are dropped unrun.
- ``Job.future`` is a ``concurrent.futures.Future[GenerationResult]``; asyncio
  callers wrap it with ``asyncio.wrap_future`` and call ``job.cancel()`` when
  their request is cancelled.
- ``submit_warm(key, prompt)`` queues a warm-up: the engine evaluates the prompt
  into its KV cache and generates nothing (engines with ``prefill``). Warm-ups
  have the lowest priority: at most one waits (the newest replaces it), it starts
  only when no request waits, and a request submitted while it runs stops it
  between prompt chunks (what it evaluated stays cached).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import StrEnum

from engine.base import (
    CancelToken,
    Engine,
    EngineError,
    GenerationRequest,
    GenerationStats,
    StopReason,
)

log = logging.getLogger(__name__)


class WorkerState(StrEnum):
    IDLE = "idle"  # not started
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"
    CLOSED = "closed"


@dataclass
class GenerationResult:
    text: str
    stats: GenerationStats
    job_id: int = 0

    @property
    def cancelled(self) -> bool:
        return self.stats.stop_reason is StopReason.CANCELLED


@dataclass(eq=False)
class Job:
    id: int
    key: str
    request: GenerationRequest
    cancel_token: CancelToken = field(default_factory=CancelToken)
    future: Future = field(default_factory=Future)
    started: bool = False
    warm: bool = False  # a warm-up (prefill only)
    # A warm-up's statistics, filled in while it runs (tokens reused + evaluated so far).
    progress: GenerationStats = field(default_factory=GenerationStats)
    submitted: float = field(default_factory=time.monotonic)

    def cancel(self) -> None:
        self.cancel_token.cancel()

    @property
    def cancelled(self) -> bool:
        return self.cancel_token.cancelled


class EngineWorker:
    def __init__(self, factory: Callable[[], Engine], name: str = "engine") -> None:
        self._factory = factory
        self._name = name
        self._cond = threading.Condition()
        self._queue: deque[Job] = deque()
        self._by_key: dict[str, list[Job]] = {}
        self._warm: Job | None = None  # the warm-up waiting (at most one)
        self._running: Job | None = None
        self._ids = itertools.count(1)
        self._thread: threading.Thread | None = None
        self._closing = False
        self.state = WorkerState.IDLE
        self.error: EngineError | None = None
        self.engine: Engine | None = None
        self._ready = threading.Event()
        # Counters for diagnostics: jobs generated to the end, jobs stopped part-way
        # by a cancel, and stale jobs dropped before they started.
        self.completed_jobs = 0
        self.cancelled_jobs = 0
        self.dropped_jobs = 0
        # Warm-ups evaluated to the end, and those stopped or dropped for a request.
        self.warm_jobs = 0
        self.warm_preempted = 0

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> None:
        with self._cond:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self.state = WorkerState.LOADING
            self._thread.start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until the engine loaded or failed; True when ready."""
        self._ready.wait(timeout)
        return self.state is WorkerState.READY

    def close(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._closing = True
            for job in self._queue:
                job.cancel()
            self._drop_warm()
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # -- jobs --------------------------------------------------------------
    def submit(self, key: str, request: GenerationRequest) -> Job:
        job = Job(id=next(self._ids), key=key, request=request)
        with self._cond:
            if self.error is not None:
                job.future.set_exception(self.error)
                return job
            if self._closing:
                job.future.set_exception(EngineError("the engine is shutting down."))
                return job
            for older in self._by_key.get(key, []):
                older.cancel()
            self._by_key[key] = [job]
            self._queue.append(job)
            # A request comes first: the warm-up waiting goes, the one running stops.
            self._preempt_warm()
            self._cond.notify_all()
        if self._thread is None:
            self.start()
        return job

    def submit_warm(self, key: str, prompt: str, *, only_if_idle: bool = False) -> Job | None:
        """Queue a warm-up of ``prompt`` (see the module docstring); it replaces the
        warm-up waiting or running. None when it is not queued: the engine cannot
        prefill, the worker is failed or closing, or ``only_if_idle`` and the engine
        is busy."""
        job = Job(id=next(self._ids), key=key, request=GenerationRequest(prompt, max_tokens=0))
        job.warm = True
        with self._cond:
            if self.error is not None or self._closing:
                return None
            if self.engine is not None and not hasattr(self.engine, "prefill"):
                return None
            if only_if_idle and self._busy():
                return None
            self._preempt_warm()
            self._warm = job
            self._cond.notify_all()
        if self._thread is None:
            self.start()
        return job

    def _preempt_warm(self) -> None:
        # Called with the lock held: the warm-up waiting goes, the one running stops.
        self._drop_warm()
        running = self._running
        if running is not None and running.warm:
            running.cancel()

    def _drop_warm(self) -> None:
        # Called with the lock held.
        if self._warm is not None:
            self._warm.cancel()
            self.warm_preempted += 1
            self._finish_unrun(self._warm, counted=False)
            self._warm = None

    def busy(self) -> bool:
        """A request runs or waits (warm-ups do not count)."""
        with self._cond:
            return self._busy()

    def _busy(self) -> bool:
        running = self._running
        return bool(self._queue) or (running is not None and not running.warm)

    def _next_job(self) -> Job | None:
        with self._cond:
            while True:
                while self._queue:
                    job = self._queue.popleft()
                    if job.cancelled:
                        self._finish_unrun(job)
                        continue
                    return self._started(job)
                if self._closing:
                    return None
                if self._warm is not None:
                    job, self._warm = self._warm, None
                    return self._started(job)
                self._cond.wait()

    def _started(self, job: Job) -> Job:
        # Called with the lock held.
        job.started = True
        self._running = job
        return job

    def _finish_unrun(self, job: Job, counted: bool = True) -> None:
        if counted:
            self.dropped_jobs += 1
        self._forget(job)
        stats = GenerationStats(stop_reason=StopReason.CANCELLED)
        if not job.future.done():
            job.future.set_result(GenerationResult("", stats, job.id))

    def _forget(self, job: Job) -> None:
        jobs = self._by_key.get(job.key)
        if jobs and job in jobs:
            jobs.remove(job)
            if not jobs:
                del self._by_key[job.key]

    def _run(self) -> None:
        try:
            self.engine = self._factory()
        except EngineError as exc:
            self.error = exc
        except Exception as exc:  # unexpected: keep the message for the user
            log.exception("engine failed to load")
            self.error = EngineError(f"the engine failed to start: {exc}")
        if self.error is not None:
            self._ready.set()
            self.state = WorkerState.FAILED
            self._fail_all(self.error)
            return
        self.state = WorkerState.READY
        self._ready.set()
        while True:
            job = self._next_job()
            if job is None:
                break
            self._execute(job)
        if self.engine is not None:
            self.engine.close()
        self.state = WorkerState.CLOSED

    def _fail_all(self, error: EngineError) -> None:
        # After a failed load every queued and future job fails with the same error.
        with self._cond:
            self._closing = True
            while self._queue:
                job = self._queue.popleft()
                if not job.future.done():
                    job.future.set_exception(error)
            if self._warm is not None:
                self._warm.future.set_exception(error)
                self._warm = None
            self._by_key.clear()

    def _execute(self, job: Job) -> None:
        engine = self.engine
        assert engine is not None
        queued = time.monotonic() - job.submitted
        if job.warm:
            self._execute_warm(job, engine, queued)
            return
        pieces: list[str] = []
        try:
            for piece in engine.stream(job.request, job.cancel_token):
                pieces.append(piece)
            stats = engine.last_stats
            stats.queue_s = queued
            if job.cancelled and stats.stop_reason is None:
                stats.stop_reason = StopReason.CANCELLED
            result = GenerationResult("".join(pieces), stats, job.id)
            if result.cancelled:
                self.cancelled_jobs += 1
            else:
                self.completed_jobs += 1
            if not job.future.done():
                job.future.set_result(result)
        except EngineError as exc:
            if not job.future.done():
                job.future.set_exception(exc)
        except Exception as exc:
            log.exception("generation failed")
            if not job.future.done():
                job.future.set_exception(EngineError(f"generation failed: {exc}"))
        finally:
            with self._cond:
                self._forget(job)
                self._running = None

    def _execute_warm(self, job: Job, engine: Engine, queued: float) -> None:
        prefill = getattr(engine, "prefill", None)
        try:
            if prefill is None:
                stats = GenerationStats(stop_reason=StopReason.CANCELLED)
            else:
                stats = prefill(job.request.prompt, job.cancel_token, job.progress)
            stats.queue_s = queued
            with self._cond:
                if stats.stop_reason is StopReason.CANCELLED:
                    self.warm_preempted += 1
                else:
                    self.warm_jobs += 1
            job.future.set_result(GenerationResult("", stats, job.id))
        except Exception as exc:  # a warm-up is optional: its failure is only logged
            log.warning("warm-up failed: %s", exc)
            if not job.future.done():
                job.future.set_exception(EngineError(f"warm-up failed: {exc}"))
        finally:
            with self._cond:
                self._running = None

    def counters(self) -> dict[str, int]:
        return {
            "completed_jobs": self.completed_jobs,
            "cancelled_jobs": self.cancelled_jobs,
            "dropped_jobs": self.dropped_jobs,
            "warm_jobs": self.warm_jobs,
            "warm_preempted": self.warm_preempted,
            "queued_jobs": self.pending(),
        }

    def pending(self) -> int:
        with self._cond:
            return len(self._queue)
