"""What the endpoint needs from an engine that serves many callers.

``submit`` queues a request and returns at once; the returned ``Generation`` yields
the text pieces as they are generated (iterating blocks), then holds ``stats`` (and
``error`` when the engine failed). A ``CancelToken`` set at any time ends the
generation: a queued request never runs, a running one stops at its next token.

Implemented by ``serial.SerialBackend`` (any ordinary engine, one request at a time)
and by ``engine.batched.BatchedEngine`` (several requests decoded together).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from engine.base import CancelToken, EngineError, EngineInfo, GenerationRequest, GenerationStats
from engine.fim import FimTemplate


class Generation(Protocol):
    stats: GenerationStats | None
    error: EngineError | None

    def __iter__(self) -> Iterator[str]: ...

    def wait(self, timeout: float | None = None) -> bool: ...  # True once it ended


class Backend(Protocol):
    fim_template: FimTemplate | None

    def info(self) -> EngineInfo: ...

    def count_tokens(self, text: str) -> int: ...

    def submit(
        self, request: GenerationRequest, cancel: CancelToken, *, user: str = ""
    ) -> Generation: ...

    def stats(self) -> dict[str, int]: ...  # at least "active" and "queued"

    def close(self) -> None: ...
