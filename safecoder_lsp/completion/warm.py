"""Warm-ups: prompts evaluated into the engine's KV cache before the user asks, and
the prefix window of a file the cache does not hold (a cold file).

The embedded engine evaluates only the prompt tokens after the part its KV cache
already holds (engine/llamacpp.py). A warm-up is a low-priority worker job that
evaluates a prompt and generates nothing (``EngineWorker.submit_warm``); any real
request stops it between prompt chunks. Warm-ups are started:

- when a document is opened: the file's start, as much of it as the prefix window
  holds (only the prefix part of the prompt: a request anywhere in those lines then
  reuses the lines before its cursor);
- after the user pauses (``IDLE_S`` after the last edit): the prompt a request at
  the end of the last edit would use; when a suggestion was shown there, as if its
  first line were accepted; at the end of a line with no suggestion shown, as if
  Enter were pressed (the request after a new line otherwise evaluates the whole
  suffix window again). Only when the engine has nothing else to do.

``choose_window_start`` picks where a request's prefix window starts: the sticky
anchor or the warmed window while the cache holds enough of them, else a shorter
window (``cold_prefix_fraction`` of the budget) whose start later requests keep.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from engine.base import GenerationStats, StopReason
from engine.worker import EngineWorker, Job
from safecoder_lsp.completion.context import choose_start
from safecoder_lsp.documents import Document

log = logging.getLogger(__name__)

IDLE_S = 0.7  # a pause in typing this long starts a warm-up
# A request sent with didOpen comes first: the file's start is warmed only when none did.
OPEN_DELAY_S = 0.1
MARKER_TOKENS = 2  # tokens before the prefix text in a prompt (BOS, the FIM prefix marker)


@dataclass(frozen=True)
class KvView:
    """What the KV cache holds of a document, as far as the service knows."""

    uri: str
    start_line: int  # the prefix window's first line
    covered_line: int  # lines start_line .. covered_line - 1 are in the cache


@dataclass(frozen=True)
class WarmPrompt:
    """A prompt to warm: ``text``; its prefix window starts at ``start_line``; its
    prefix lines end before ``cursor_line``."""

    text: str
    start_line: int
    cursor_line: int


Count = Callable[[str], int]


def _line(doc: Document, i: int) -> str:
    starts = doc._starts
    end = starts[i + 1] if i + 1 < doc.line_count else len(doc.text)
    return doc.text[starts[i] : end]


def window_tokens(doc: Document, start: int, end: int, count: Count) -> int:
    """Tokens of lines ``start`` .. ``end - 1``."""
    return sum(count(_line(doc, i)) for i in range(start, end))


def covered_line(doc: Document, start: int, limit: int, tokens: int, count: Count) -> int:
    """The first line from ``start`` (at most ``limit``) not wholly within the first
    ``tokens`` tokens of a prompt whose prefix window starts at ``start``."""
    left = tokens - MARKER_TOKENS
    line = start
    while line < limit:
        n = count(_line(doc, line))
        if n > left:
            break
        left -= n
        line += 1
    return line


def choose_window_start(
    doc: Document,
    line: int,
    count: Count,
    budget: int,
    cold_fraction: float,
    anchor: int | None,
    kv: KvView | None,
) -> int:
    """The first line of the prefix window for a request on ``line``: of the anchor
    and the window the cache holds (those that still fit ``budget``), the one with
    the fewest tokens left to evaluate; the cold window (``cold_fraction`` of the
    budget) when it would evaluate fewer still, or when neither fits and the cache
    holds another file (in the same file the window refills as ``choose_start``
    does)."""
    cold = choose_start(doc, line, count, max(1, int(budget * cold_fraction)), None)
    best: tuple[int, int] | None = None  # (tokens to evaluate, start)
    for start in dict.fromkeys(s for s in (anchor, kv.start_line if kv else None) if s is not None):
        if start > line or window_tokens(doc, start, line, count) > budget:
            continue
        cached_to = start
        if kv is not None and kv.uri == doc.uri and kv.start_line == start:
            cached_to = min(max(kv.covered_line, start), line)
        cost = window_tokens(doc, cached_to, line, count)
        if best is None or cost < best[0]:
            best = (cost, start)
    if best is not None and best[0] <= window_tokens(doc, cold, line, count):
        return best[1]
    if best is None and kv is not None and kv.uri == doc.uri:
        # The window outgrew the budget while the file is warm: the usual refill.
        return choose_start(doc, line, count, budget, anchor if anchor is not None else line)
    return cold


def open_offset(doc: Document, count: Count, budget: int) -> int:
    """Where a request whose prefix window is the file's first ``budget`` tokens would
    be: the start of the first line past them."""
    total = 0
    line = 0
    while line + 1 < doc.line_count:
        n = count(_line(doc, line))
        if total + n > budget:
            break
        total += n
        line += 1
    return doc._starts[line]


def accepted(doc: Document, offset: int, suggestion: str) -> tuple[Document, int]:
    """The document as if the suggestion's first line were accepted, and the cursor
    after it."""
    first = suggestion.split("\n", 1)[0]
    text = doc.text[:offset] + first + doc.text[offset:]
    return Document(doc.uri, text, doc.version, doc.language_id), offset + len(first)


def line_broken(doc: Document, offset: int) -> tuple[Document, int] | None:
    """The document as if Enter were pressed at ``offset`` and the editor indented the
    new line (as the line, one level deeper after a block opener), and the cursor
    after that indentation; None unless ``offset`` ends a line with code on it. The
    indentation matters: alone on its line it goes with the prompt's prefix."""
    line, _ = doc.position_at(offset, "utf-32")
    start, end = doc.line_span(line)
    code = doc.text[start:end]
    if offset != end or not code.strip():
        return None
    indent = code[: len(code) - len(code.lstrip())]
    if code.rstrip().endswith((":", "{", "(", "[")):
        indent += "\t" if indent.startswith("\t") else "    "
    text = doc.text[:offset] + "\n" + indent + doc.text[offset:]
    return Document(doc.uri, text, doc.version, doc.language_id), offset + 1 + len(indent)


class Warmer:
    """Schedules warm-ups for one completion service and tracks what the engine's
    KV cache holds (``kv``). At most one warm-up is scheduled or running: the
    newest wins."""

    def __init__(
        self,
        worker: EngineWorker,
        count: Callable[[], Count],
        ready: Callable[[], Awaitable[None]],
        prompt_at: Callable[[Document, int, bool], WarmPrompt],
    ) -> None:
        self._worker = worker
        self._count = count
        self._ready = ready
        self._prompt_at = prompt_at
        self.enabled = True
        self._task: asyncio.Task | None = None
        self._known: KvView | None = None  # from the last engine job that ended
        self._inflight: tuple[Job, Document, WarmPrompt] | None = None
        self._last_prompt = ""  # the last prompt evaluated to its end
        self._shown: dict[str, tuple[int, str]] = {}  # uri -> (offset, suggestion)
        self.started = 0  # warm-ups submitted

    # -- what the cache holds ---------------------------------------------------
    def kv(self) -> KvView | None:
        """The cache's view now: a warm-up running counts with what it evaluated so far."""
        if self._inflight is not None:
            job, doc, wp = self._inflight
            if job.future.done() or job.started:
                self._inflight = None if job.future.done() else self._inflight
                return self._view(doc, wp, job.progress)
        return self._known

    def _view(self, doc: Document, wp: WarmPrompt, stats: GenerationStats) -> KvView:
        done = stats.reused_tokens + stats.evaluated_tokens
        line = covered_line(doc, wp.start_line, wp.cursor_line, done, self._count())
        view = KvView(doc.uri, wp.start_line, line)
        self._known = view
        return view

    def ran(self, doc: Document, wp: WarmPrompt, stats: GenerationStats) -> None:
        """A request's engine job ended (``stats``): the cache holds its prompt."""
        self._inflight = None
        self._view(doc, wp, stats)
        finished = stats.stop_reason is not StopReason.CANCELLED
        self._last_prompt = wp.text if finished else ""

    # -- events -----------------------------------------------------------------
    def opened(self, doc: Document, budget: int) -> None:
        self._schedule(self._open(doc, budget))

    def edited(self, doc: Document, offset: int) -> None:
        """The user edited ``doc``, ending at ``offset``."""
        self._schedule(self._after_pause(doc, offset))

    def shown(self, doc: Document, offset: int, text: str) -> None:
        if text:
            self._shown[doc.uri] = (offset, text)
        else:
            self._shown.pop(doc.uri, None)

    def forget(self, uri: str) -> None:
        self._shown.pop(uri, None)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    # -- warm-ups -----------------------------------------------------------------
    def _schedule(self, work: Awaitable[None]) -> None:
        if self._task is not None:
            self._task.cancel()
        if not self.enabled:
            work.close()  # type: ignore[attr-defined]
            return
        self._task = asyncio.ensure_future(self._guarded(work))

    @staticmethod
    async def _guarded(work: Awaitable[None]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a warm-up is optional; the next request reports errors
            log.debug("no warm-up: %s", exc)

    async def _open(self, doc: Document, budget: int) -> None:
        await asyncio.sleep(OPEN_DELAY_S)
        await self._ready()
        kv = self.kv()
        if self._worker.busy() or (kv is not None and kv.uri == doc.uri):
            return  # a request came first: warming the file's start would evict its prompt
        offset = open_offset(doc, self._count(), budget)
        self._submit(doc, self._prompt_at(doc, offset, True), only_if_idle=False)

    async def _after_pause(self, doc: Document, offset: int) -> None:
        await asyncio.sleep(IDLE_S)
        await self._ready()
        if offset > len(doc.text):
            return
        shown = self._shown.get(doc.uri)
        if shown is not None and shown[0] == offset:
            doc, offset = accepted(doc, offset, shown[1])
        else:
            # At the end of a line, the next request likely follows Enter: its prompt
            # differs from the last one's before the suffix, which it would evaluate.
            doc, offset = line_broken(doc, offset) or (doc, offset)
        self._submit(doc, self._prompt_at(doc, offset, False), only_if_idle=True)

    def _submit(self, doc: Document, wp: WarmPrompt, *, only_if_idle: bool) -> None:
        if wp.text == self._last_prompt:
            return  # the cache holds it already
        job = self._worker.submit_warm(doc.uri, wp.text, only_if_idle=only_if_idle)
        if job is None:
            return
        self.started += 1
        self._inflight = (job, doc, wp)
        job.future.add_done_callback(lambda f, w=wp: self._warmed(f, w))

    def _warmed(self, future, wp: WarmPrompt) -> None:
        # On the worker's thread: only remember a prompt evaluated to its end.
        if future.cancelled() or future.exception() is not None:
            return
        if future.result().stats.stop_reason is not StopReason.CANCELLED:
            self._last_prompt = wp.text
