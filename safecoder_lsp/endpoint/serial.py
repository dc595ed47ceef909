"""``SerialBackend``: the endpoint's backend over any ordinary engine.

One worker thread owns the engine and runs one request at a time. Waiting requests
sit in a fair queue (engine.fairqueue, ``Policy.TURNS``): users (API token names)
take turns, round-robin, and each user's requests run in the order they came. A
request whose ``CancelToken`` is set while it waits is taken out of the queue and
never runs.

``count_tokens`` may be called from any thread: the worker holds the engine's lock
only while it computes the next piece, so a count waits at most one step.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator

from engine.base import (
    CancelToken,
    Engine,
    EngineError,
    EngineInfo,
    GenerationRequest,
    GenerationStats,
    StopReason,
)
from engine.fairqueue import FairQueue, Policy
from engine.fim import FimTemplate

log = logging.getLogger(__name__)

_END = object()
POLL_S = 0.05  # how often a waiting caller looks at its CancelToken


class SerialGeneration:
    """The pieces of one request, handed over from the worker thread."""

    def __init__(self, backend: SerialBackend, cancel: CancelToken) -> None:
        self._backend = backend
        self._cancel = cancel
        self._pieces: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._job: _Job | None = None
        self.stats: GenerationStats | None = None
        self.error: EngineError | None = None
        self._done = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the generation ended; True if it did within ``timeout``."""
        return self._done.wait(timeout)

    def __iter__(self) -> Iterator[str]:
        while True:
            try:
                item = self._pieces.get(timeout=POLL_S)
            except queue.Empty:
                if self._cancel.cancelled and self._backend._withdraw(self._job):
                    return
                continue
            if item is _END:
                return
            yield item  # type: ignore[misc]

    def _put(self, piece: str) -> None:
        self._pieces.put(piece)

    def _finish(self, stats: GenerationStats, error: EngineError | None = None) -> None:
        self.stats = stats
        self.error = error
        self._done.set()
        self._pieces.put(_END)


@dataclasses.dataclass(eq=False)
class _Job:
    request: GenerationRequest
    cancel: CancelToken
    user: str
    generation: SerialGeneration


def _cancelled() -> GenerationStats:
    return GenerationStats(stop_reason=StopReason.CANCELLED)


class SerialBackend:
    """Implements ``backend.Backend`` with one engine and one worker thread.

    The engine is made (the model loaded) in the constructor, so a missing or broken
    model raises its ``EngineError`` here; ``load_s`` says how long it took.
    """

    def __init__(self, engine_factory: Callable[[], Engine], name: str = "endpoint-engine"):
        started = time.monotonic()
        self._engine = engine_factory()
        self.load_s = time.monotonic() - started
        self.fim_template: FimTemplate | None = getattr(self._engine, "fim_template", None)
        self._engine_lock = threading.Lock()
        self._cond = threading.Condition()
        self._queue: FairQueue[_Job] = FairQueue(Policy.TURNS)
        self._active: _Job | None = None
        self._closing = False
        self._counts = {"completed": 0, "cancelled": 0, "dropped": 0, "failed": 0}
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- the Backend interface ---------------------------------------------------
    def info(self) -> EngineInfo:
        return self._engine.info()

    def count_tokens(self, text: str) -> int:
        with self._engine_lock:
            return self._engine.count_tokens(text)

    def submit(
        self, request: GenerationRequest, cancel: CancelToken, *, user: str = ""
    ) -> SerialGeneration:
        generation = SerialGeneration(self, cancel)
        with self._cond:
            if self._closing:
                generation._finish(GenerationStats(), EngineError("the endpoint is shutting down."))
                return generation
            generation._job = _Job(request, cancel, user, generation)
            self._queue.put(user, generation._job)
            self._cond.notify()
        return generation

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {
                "active": int(self._active is not None),
                "queued": len(self._queue),
                "slots": 1,
                **self._counts,
            }

    def close(self, timeout: float = 10.0) -> None:
        with self._cond:
            if self._closing:
                return
            self._closing = True
            waiting = self._queue.drain()
            if self._active is not None:
                self._active.cancel.cancel()
            self._cond.notify_all()
        for job in waiting:
            job.cancel.cancel()
            job.generation._finish(_cancelled())
        self._thread.join(timeout)
        if self._thread.is_alive():  # pragma: no cover - an engine ignoring its cancel
            log.warning("the engine did not stop within %.0f s; not closing it", timeout)
            return
        self._engine.close()

    # -- the worker --------------------------------------------------------------
    def _withdraw(self, job: _Job | None) -> bool:
        """Take a cancelled request out of the queue; False when it is not there."""
        with self._cond:
            if job is None or not self._queue.remove(job.user, job):
                return False
            self._counts["dropped"] += 1
        job.generation._finish(_cancelled())
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if self._closing:
                    return
                job = self._queue.pop()
                assert job is not None
                self._active = job
            try:
                self._execute(job)
            finally:
                with self._cond:
                    self._active = None

    def _execute(self, job: _Job) -> None:
        if job.cancel.cancelled:
            self._counts["dropped"] += 1
            job.generation._finish(_cancelled())
            return
        error: EngineError | None = None
        stats = GenerationStats()
        try:
            pieces = iter(self._engine.stream(job.request, job.cancel))
            while True:
                with self._engine_lock:
                    piece = next(pieces, _END)
                if piece is _END:
                    break
                job.generation._put(piece)  # type: ignore[arg-type]
            stats = dataclasses.replace(self._engine.last_stats)
            if job.cancel.cancelled and stats.stop_reason is None:
                stats.stop_reason = StopReason.CANCELLED
        except EngineError as exc:
            error = exc
        except Exception as exc:
            log.exception("generation failed")
            error = EngineError(f"generation failed: {exc}")
        key = (
            "failed"
            if error
            else "cancelled"
            if stats.stop_reason is StopReason.CANCELLED
            else "completed"
        )
        with self._cond:
            self._counts[key] += 1
        job.generation._finish(stats, error)
