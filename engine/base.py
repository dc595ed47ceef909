"""The one small interface every inference engine implements.

An engine turns a prompt into a stream of text pieces. It knows nothing about LSP,
documents or editors: it is usable as a library on its own.

Contract:
- ``stream(request, cancel)`` yields text pieces as they are generated. It stops
  by itself on a stop word (the stop word is not yielded), on ``max_tokens``, on
  the time budget, or when ``request.should_stop(text_so_far)`` returns True.
  It checks ``cancel`` between tokens (and between prompt chunks) and returns
  promptly once it is set.
- After the stream ends, ``last_stats`` describes the call (tokens evaluated,
  reused from the KV cache, generated, and why it stopped).
- Engines are not thread-safe: one worker thread owns an engine (see worker.py).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable


class EngineError(Exception):
    """An engine failed in a way the user can act on. ``hint`` says how to fix it."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class StopReason(StrEnum):
    STOP_WORD = "stop_word"
    MAX_TOKENS = "max_tokens"
    TIME_BUDGET = "time_budget"
    CALLER = "caller"  # request.should_stop said so
    END_OF_TEXT = "eos"
    CANCELLED = "cancelled"
    CONTEXT_FULL = "context_full"


@dataclass(frozen=True)
class FimParts:
    """The pieces a fill-in-the-middle prompt was built from.

    Engines whose server builds the prompt itself (llama.cpp ``/infill``, Ollama
    without a raw template) read these instead of ``GenerationRequest.prompt``.
    """

    prefix: str  # text before the cursor's line (whole lines)
    suffix: str  # text after the cursor
    middle_head: str = ""  # the cursor's line up to the cursor: the middle starts with it
    extra: tuple[tuple[str, str], ...] = ()  # (file name, text) of other files


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    max_tokens: int = 64
    stop: tuple[str, ...] = ()
    temperature: float = 0.0
    time_budget_s: float | None = None
    # Token healing: the prompt's last token may be cut mid-word by the cursor
    # ("os.list|"); re-generate it under the constraint that the output starts with
    # its text, which is then not yielded. Needs an engine that can constrain.
    heal: bool = False
    # Called with the text generated so far; True ends generation early
    # (e.g. the post-processing knows the block is finished).
    should_stop: Callable[[str], bool] | None = field(default=None, compare=False)
    # How ``prompt`` was built, for engines that send the parts (None: a plain prompt).
    fim: FimParts | None = None


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    reused_tokens: int = 0  # served from the KV cache of the previous call
    evaluated_tokens: int = 0  # prompt tokens actually evaluated
    generated_tokens: int = 0
    stop_reason: StopReason | None = None
    prompt_eval_s: float = 0.0
    generation_s: float = 0.0
    queue_s: float = 0.0  # waited in the worker's queue before the engine took it


class CancelToken:
    """A thread-safe flag checked by engines between tokens.

    ``on_cancel(callback)`` also runs a callback when it is set (at once when it
    already is): a remote engine uses it to close a connection that is blocked in a
    read, so a cancel does not wait for the endpoint's next token.
    """

    __slots__ = ("_callbacks", "_event", "_lock")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds; True (at once) when cancelled."""
        return self._event.wait(timeout)

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run ``callback`` on cancel; returns a function that unregisters it."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)

                def remove() -> None:
                    with self._lock, contextlib.suppress(ValueError):
                        self._callbacks.remove(callback)

                return remove
        callback()
        return lambda: None


@dataclass(frozen=True)
class EngineInfo:
    kind: str
    model: str
    n_ctx: int = 0
    details: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Engine(Protocol):
    """What the completion pipeline needs from an engine."""

    last_stats: GenerationStats

    def info(self) -> EngineInfo: ...

    def count_tokens(self, text: str) -> int: ...

    def stream(self, request: GenerationRequest, cancel: CancelToken) -> Iterator[str]: ...

    def close(self) -> None: ...


def generate_text(
    engine: Engine, request: GenerationRequest, cancel: CancelToken | None = None
) -> str:
    """Run a stream to the end and return the whole text (convenience for callers)."""
    return "".join(engine.stream(request, cancel or CancelToken()))


class StopWordMatcher:
    """Finds stop words in streamed text and holds back text that may start one.

    Stream pieces go in with ``feed``; what is safe to show comes out. When a stop
    word appears, ``stopped`` becomes True and the text before it is released.
    """

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._pending = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        if self.stopped:
            return ""
        buf = self._pending + piece
        cut = -1
        for s in self._stops:
            i = buf.find(s)
            if i != -1 and (cut == -1 or i < cut):
                cut = i
        if cut != -1:
            self.stopped = True
            self._pending = ""
            return buf[:cut]
        # Hold back the longest tail that is a proper prefix of some stop word.
        hold = 0
        for s in self._stops:
            for n in range(min(len(s) - 1, len(buf)), 0, -1):
                if buf.endswith(s[:n]):
                    hold = max(hold, n)
                    break
        self._pending = buf[len(buf) - hold :] if hold else ""
        return buf[: len(buf) - hold] if hold else buf

    def flush(self) -> str:
        out, self._pending = self._pending, ""
        return "" if self.stopped else out


class Deadline:
    """A monotonic time budget; ``None`` means no budget."""

    def __init__(self, budget_s: float | None) -> None:
        self._end = None if budget_s is None else time.monotonic() + budget_s

    @property
    def expired(self) -> bool:
        return self._end is not None and time.monotonic() >= self._end

    @property
    def remaining(self) -> float | None:
        """Seconds left (never negative); None without a budget."""
        return None if self._end is None else max(0.0, self._end - time.monotonic())


def common_prefix(a: Sequence, b: Sequence) -> int:
    """How many leading items ``a`` and ``b`` share (tokens, or characters)."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
