"""A remote engine: the engine interface over an endpoint's HTTP API.

What differs between servers (paths, request body, event format) is an ``Api``
(openai.py, tgi.py, infill.py, ollama.py); this module does what they share:
streaming with stop words, ``max_tokens``, the time budget and ``should_stop``
applied on our side as well (a server may ignore some of them), cancel closing the
connection, retries with backoff for failures where nothing was generated, and the
circuit breaker.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from engine.base import (
    CancelToken,
    Deadline,
    EngineError,
    EngineInfo,
    FimParts,
    GenerationRequest,
    GenerationStats,
    StopReason,
    StopWordMatcher,
)
from engine.fim import FimTemplate, detect_by_name
from engine.remote.breaker import CircuitBreaker
from engine.remote.http import Client, Endpoint, RemoteError, Stream
from engine.remote.tokens import estimate

log = logging.getLogger(__name__)

# Servers limit how many stop sequences a request may carry (TGI: 4 by default);
# the rest are applied here.
SERVER_STOPS = 4
# How often to ask an endpoint that did not answer which model it serves.
DISCOVER_EVERY_S = 2.0


@dataclass
class Event:
    """One parsed server message."""

    text: str = ""
    finished: bool = False
    stop_reason: StopReason | None = None
    prompt_tokens: int | None = None
    reused_tokens: int | None = None
    error: str = ""
    endpoint_fault: bool = True  # whether an error counts towards the circuit breaker


class Api(Protocol):
    framing: str  # "sse" or "ndjson"
    stream_path: str
    whole_path: str

    def body(self, request: GenerationRequest, model: str, stream: bool) -> dict[str, Any]: ...

    def event(self, data: Any) -> Event: ...

    # Optional ``whole(data) -> Event``: the non-streamed answer, when it is not simply
    # a stream event that finishes (TGI's /generate differs from its stream events).

    def discover(self, client: Client) -> str:
        """The served model's name (for template detection); "" when unknown."""
        ...


def server_stops(stops: tuple[str, ...], limit: int = SERVER_STOPS) -> list[str]:
    """The stop words to send: the line break first (it ends single-line
    completions), then the others in order, at most ``limit``."""
    ordered = [s for s in stops if s == "\n"] + [s for s in stops if s and s != "\n"]
    return list(dict.fromkeys(ordered))[:limit]


def without_dangling_space(request: GenerationRequest) -> tuple[GenerationRequest, str]:
    """``request`` without the blanks that end its prompt, and those blanks.

    A prompt that ends in a space ("return ") makes a model continue from an
    unusual token boundary (the local engine heals the last token instead; a remote
    server cannot). Without them the model writes " a + b" as it saw in training.
    Only for ``heal`` requests (the prompt ends with text typed on the line).
    """
    if not request.heal:
        return request, ""
    stripped = request.prompt.rstrip(" \t")
    dangling = request.prompt[len(stripped) :]
    if not dangling or not stripped or stripped.endswith("\n"):
        return request, ""
    fim = request.fim
    if fim is not None and fim.middle_head.endswith(dangling):
        fim = dataclasses.replace(fim, middle_head=fim.middle_head[: -len(dangling)])
    return dataclasses.replace(request, prompt=stripped, fim=fim), dangling


def parts_of(request: GenerationRequest) -> FimParts:
    """The FIM parts of a request; a plain prompt is all prefix."""
    return request.fim if request.fim is not None else FimParts(prefix=request.prompt, suffix="")


def finish_reason(value: Any) -> StopReason:
    """An OpenAI / TGI / Ollama finish reason as a StopReason."""
    text = str(value or "").lower()
    if text in ("length", "max_tokens", "limit"):
        return StopReason.MAX_TOKENS
    if text in ("stop_sequence", "word"):
        return StopReason.STOP_WORD
    return StopReason.END_OF_TEXT


@dataclass
class _Reading:
    """A streamed answer being read (``RemoteEngine._stream``)."""

    request: GenerationRequest
    stats: GenerationStats
    cancel: CancelToken
    deadline: Deadline
    started: float
    matcher: StopWordMatcher
    text: str = ""  # what was handed out so far
    first: bool = True  # neither text nor the end has come yet


def _stop_after(event: Event, r: _Reading) -> StopReason | None:
    """Why reading ends after ``event`` (None: it goes on)."""
    if r.matcher.stopped:
        return StopReason.STOP_WORD
    if r.request.should_stop is not None and r.request.should_stop(r.text):
        return StopReason.CALLER
    if event.finished:
        return event.stop_reason or StopReason.END_OF_TEXT
    if r.stats.generated_tokens >= r.request.max_tokens:
        return StopReason.MAX_TOKENS
    if r.deadline.expired:
        return StopReason.TIME_BUDGET
    return None


class RemoteEngine:
    """Engine interface over ``api`` at ``endpoint``."""

    def __init__(
        self,
        api: Api,
        endpoint: Endpoint,
        *,
        kind: str = "remote",
        model: str = "",
        fim_template: FimTemplate | None = None,
        count_tokens: Callable[[str], int] = estimate,
        tokenizer_name: str = "estimate",
        streaming: bool = True,
        retries: int = 2,
        backoff_s: float = 0.2,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.api = api
        self.kind = kind  # the engine.kind it was built for (engine/kinds.py)
        self.client = Client(endpoint)
        self.model = model
        self._template = fim_template
        self._count = count_tokens
        self._tokenizer_name = tokenizer_name
        self.streaming = streaming
        self.retries = max(0, retries)
        self.backoff_s = backoff_s
        self.breaker = breaker or CircuitBreaker()
        self.last_stats = GenerationStats()
        self._served_model = ""
        self._discovering = threading.Lock()
        self._discovered_at = 0.0
        self._discovery_error: EngineError | None = None

    # -- what the pipeline reads -------------------------------------------------
    @property
    def fim_template(self) -> FimTemplate | None:
        """The configured template, else one detected from the served model's name
        (asked from the endpoint in the background; None until it answers). A server
        that builds the prompt itself has a fixed one (``api.template``)."""
        fixed = getattr(self.api, "template", None)
        if fixed is not None:
            return fixed
        if self._template is None and not self.model:
            self._discover_soon()
        return self._template or detect_by_name(self.model or self._served_model)

    @fim_template.setter
    def fim_template(self, template: FimTemplate | None) -> None:
        self._template = template

    @property
    def wants_other_files(self) -> bool:
        """Whether requests should carry other files (FimParts.extra)."""
        return bool(getattr(self.api, "wants_other_files", False))

    def info(self) -> EngineInfo:
        return EngineInfo(
            kind=self.kind,
            model=self.model or self._served_model or "(served model)",
            details={
                "url": self.client.endpoint.url,
                "tokenizer": self._tokenizer_name,
                "circuit": self.breaker.state,
            },
        )

    def count_tokens(self, text: str) -> int:
        return self._count(text)

    def close(self) -> None:
        pass

    def discover(self) -> str:
        """Ask the endpoint which model it serves (errors are kept, not raised)."""
        try:
            self.breaker.before_call(self.client.endpoint.url)
            try:
                self._served_model = self.api.discover(self.client) or self._served_model
            except RemoteError as exc:
                self.breaker.failure(exc)
                raise
            except EngineError:
                self.breaker.abandon()
                raise
            self.breaker.success()
            self._discovery_error = None
        except EngineError as exc:
            self._discovery_error = exc
            log.info("could not ask %s for its model: %s", self.client.endpoint.url, exc.message)
        self._discovered_at = time.monotonic()
        return self._served_model

    @property
    def template_problem(self) -> EngineError | None:
        """Why ``fim_template`` is unknown when the endpoint could not be asked."""
        return self._discovery_error if self.fim_template is None else None

    def _discover_soon(self) -> None:
        if self._served_model or time.monotonic() - self._discovered_at < DISCOVER_EVERY_S:
            return
        if not self._discovering.acquire(blocking=False):
            return
        self._discovered_at = time.monotonic()

        def run() -> None:
            try:
                self.discover()
            finally:
                self._discovering.release()

        threading.Thread(target=run, name="endpoint-discover", daemon=True).start()

    # -- generation --------------------------------------------------------------
    def stream(self, request: GenerationRequest, cancel: CancelToken) -> Iterator[str]:
        request, dangling = without_dangling_space(request)
        pieces = self._stream(request, cancel)
        if not dangling:
            yield from pieces
            return
        # The model continues the prompt without the trailing blanks: drop the same
        # blanks from the start of its answer (they are already in the document).
        head = ""
        for piece in pieces:
            if head is None:
                yield piece
                continue
            head += piece
            if len(head) < len(dangling) and dangling.startswith(head):
                continue
            out = head[len(dangling) :] if head.startswith(dangling) else head.lstrip(" \t")
            head = None
            if out:
                yield out

    def _stream(self, request: GenerationRequest, cancel: CancelToken) -> Iterator[str]:
        stats = GenerationStats()
        self.last_stats = stats
        deadline = Deadline(request.time_budget_s)
        started = time.perf_counter()
        model = self.model or self._served_model
        if not self.streaming:
            yield from self._whole(request, model, cancel, deadline, stats, started)
            return
        stream = self._open(request, model, cancel, deadline)
        if stream is None:
            if cancel.cancelled:
                stats.stop_reason = StopReason.CANCELLED
            else:
                stats.stop_reason = StopReason.TIME_BUDGET
                self.breaker.failure(self._silent())
            return
        reading = _Reading(request, stats, cancel, deadline, started, StopWordMatcher(request.stop))
        unregister = cancel.on_cancel(stream.close)
        try:
            yield from self._events(stream, reading)
        except RemoteError as exc:
            if cancel.cancelled:
                stats.stop_reason = StopReason.CANCELLED
            elif deadline.expired:
                stats.stop_reason = StopReason.TIME_BUDGET
            else:
                self.breaker.failure(exc)
                raise
        finally:
            unregister()
            stream.close()
            stats.generation_s = time.perf_counter() - started - stats.prompt_eval_s
        if cancel.cancelled:
            stats.stop_reason = StopReason.CANCELLED
            self.breaker.abandon()
            return
        if stats.stop_reason is StopReason.TIME_BUDGET and reading.first:
            # Not a word within the time budget: a hung endpoint must open the breaker
            # (and so reach the user) instead of costing every keystroke the budget.
            self.breaker.failure(self._silent())
        else:
            self.breaker.success()
        rest = reading.matcher.flush()
        if rest:
            yield rest

    def _events(self, stream: Stream, r: _Reading) -> Iterator[str]:
        """The text of a streamed answer's events, up to the first reason to stop
        (set in ``r.stats.stop_reason``; left None when cancelled)."""
        stats = r.stats
        stream.set_read_timeout(self._read_timeout(r.deadline))
        for data in stream.events():
            event = self.api.event(data)
            if event.error:
                raise RemoteError(
                    f"the endpoint {self.client.endpoint.url} failed while generating: "
                    f"{event.error}",
                    "See the endpoint's log.",
                    endpoint_fault=event.endpoint_fault,
                )
            if r.first and (event.text or event.finished):
                stats.prompt_eval_s = time.perf_counter() - r.started
                r.first = False
            self._note_prompt(stats, event)
            if event.text:
                stats.generated_tokens += 1
                out = r.matcher.feed(event.text)
                if out:
                    r.text += out
                    yield out
            reason = _stop_after(event, r)
            if reason is not None:
                stats.stop_reason = reason
                return
            if r.cancel.cancelled:
                return
            stream.set_read_timeout(self._read_timeout(r.deadline))
        if r.cancel.cancelled:
            stats.stop_reason = StopReason.CANCELLED
        elif not r.deadline.expired:
            # Every supported API ends with a finishing event: this one was cut.
            raise RemoteError(
                f"the connection to {self.client.endpoint.url} broke off before the "
                "answer was complete.",
                "The endpoint may have restarted; the next request tries again.",
                endpoint_fault=True,
            )
        else:
            stats.stop_reason = StopReason.TIME_BUDGET

    def _whole(
        self,
        request: GenerationRequest,
        model: str,
        cancel: CancelToken,
        deadline: Deadline,
        stats: GenerationStats,
        started: float,
    ) -> Iterator[str]:
        """One request, one answer (engine.streaming = false)."""
        body = self.api.body(request, model, stream=False)
        path = self.api.whole_path
        data = self._call(
            lambda: self.client.post_json(
                path, body, timeout=self._read_timeout(deadline), cancel=cancel
            ),
            cancel,
            deadline,
        )
        if data is None:
            stats.stop_reason = StopReason.CANCELLED if cancel.cancelled else StopReason.TIME_BUDGET
            return
        whole = getattr(self.api, "whole", None)
        event = whole(data) if whole is not None else self.api.event(data)
        event.finished = True
        if event.error:
            raise RemoteError(f"the endpoint {self.client.endpoint.url} failed: {event.error}")
        stats.prompt_eval_s = time.perf_counter() - started
        self._note_prompt(stats, event)
        matcher = StopWordMatcher(request.stop)
        text = matcher.feed(event.text) + matcher.flush()
        if request.should_stop is not None:
            # Cut at the first point where the caller would have stopped a stream.
            for end in range(1, len(text) + 1):
                if text[end - 1] == "\n" and request.should_stop(text[:end]):
                    text = text[:end]
                    stats.stop_reason = StopReason.CALLER
                    break
        stats.generated_tokens = self._count(text) if text else 0
        if stats.stop_reason is None:
            reason = event.stop_reason or StopReason.END_OF_TEXT
            stats.stop_reason = StopReason.STOP_WORD if matcher.stopped else reason
        if text:
            yield text

    def _silent(self) -> RemoteError:
        return RemoteError(
            f"the endpoint {self.client.endpoint.url} sent nothing within the time budget "
            "(completion.time_budget_ms)",
            endpoint_fault=True,
        )

    def _note_prompt(self, stats: GenerationStats, event: Event) -> None:
        if event.prompt_tokens is not None:
            stats.prompt_tokens = event.prompt_tokens
            stats.evaluated_tokens = event.prompt_tokens - (event.reused_tokens or 0)
        if event.reused_tokens is not None:
            stats.reused_tokens = event.reused_tokens

    def _read_timeout(self, deadline: Deadline) -> float:
        timeout = self.client.endpoint.read_timeout
        left = deadline.remaining
        return timeout if left is None else min(timeout, left + 0.05)

    def _open(
        self, request: GenerationRequest, model: str, cancel: CancelToken, deadline: Deadline
    ) -> Stream | None:
        body = self.api.body(request, model, stream=True)
        return self._call(
            lambda: self.client.open_stream(
                self.api.stream_path,
                body,
                self.api.framing,
                timeout=self._read_timeout(deadline),
                cancel=cancel,
            ),
            cancel,
            deadline,
        )

    def _call(self, send: Callable[[], Any], cancel: CancelToken, deadline: Deadline) -> Any:
        """``send()`` with the breaker and retries; None when cancelled or out of time."""
        url = self.client.endpoint.url
        attempt = 0
        while True:
            if cancel.cancelled:
                return None
            self.breaker.before_call(url)
            try:
                return send()
            except RemoteError as exc:
                if cancel.cancelled or deadline.expired:
                    self.breaker.abandon()
                    return None
                left = deadline.remaining
                pause = self.backoff_s * (2**attempt)
                if (
                    not exc.retryable
                    or attempt >= self.retries
                    or (left is not None and left < pause)
                ):
                    self.breaker.failure(exc)
                    raise
                attempt += 1
                log.info("retrying %s in %.2f s: %s", url, pause, exc.message)
                if cancel.wait(pause):
                    self.breaker.abandon()
                    return None
            except EngineError:  # not the endpoint's doing (e.g. the token file)
                self.breaker.abandon()
                raise
