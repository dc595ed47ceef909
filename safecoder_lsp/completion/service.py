"""The completion pipeline: document + cursor -> suggestion.

typed-ahead -> should_complete -> context -> prompt -> cache -> engine (worker)
-> post-process -> cache / typed-ahead / request record.

The LSP handlers and the ``complete`` command both call ``CompletionService``;
nothing here knows about LSP types.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

from engine import fim
from engine.base import (
    EngineError,
    FimParts,
    GenerationRequest,
    GenerationStats,
    StopReason,
    common_prefix,
)
from engine.fim import FimTemplate
from engine.worker import EngineWorker, GenerationResult, WorkerState
from safecoder_lsp.completion.attribution import Attributor
from safecoder_lsp.completion.cache import ResultCache, TypedAhead, cache_key
from safecoder_lsp.completion.context import CompletionContext, TokenCounter, build_context
from safecoder_lsp.completion.debounce import Debouncer
from safecoder_lsp.completion.postprocess import FilterContext, block_finished, postprocess
from safecoder_lsp.completion.trigger import TriggerDecision, should_complete
from safecoder_lsp.completion.warm import Warmer, WarmPrompt, choose_window_start
from safecoder_lsp.documents import Document
from safecoder_lsp.repo_context.provider import EMPTY, Cursor, RepoContext, Snippets

log = logging.getLogger(__name__)

# Text near the cursor with NUL bytes is not something to complete.
BINARY_PROBE_CHARS = 4096


class CompletionError(Exception):
    """A completion could not be made; ``hint`` tells the user what to do."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


@dataclass(frozen=True)
class CompletionSettings:
    """The subset of the configuration the pipeline reads."""

    max_tokens: int = 64
    single_line_max_tokens: int = 48
    time_budget_ms: int = 3000
    prefix_tokens: int = 768
    suffix_tokens: int = 192
    multiline: str = "auto"
    skip_in_comments: bool = False
    skip_in_strings: bool = False
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    cache_size: int = 256
    debounce_max_ms: int = 300
    warm: bool = True
    cold_prefix_fraction: float = 1.0
    middle_lines: int = 8
    lead_lines: int = 3
    include_code_in_logs: bool = False
    context_tokens: int = 0  # for repository context (already cut to fit engine.n_ctx)


@dataclass
class CompletionResult:
    request_id: str
    text: str
    offset: int  # where the suggestion is inserted (string offset in the document)
    source: str  # engine | cache | typed_ahead | skipped | superseded | blocked
    reason: str = ""
    mode: str = ""
    latency_ms: float = 0.0
    stats: GenerationStats | None = None
    prompt: str = field(default="", repr=False)
    raw: str = field(default="", repr=False)
    references: tuple = ()  # attribution.policy.Reference: matches with licensed code


@dataclass
class RequestRecord:
    request_id: str
    uri: str
    text: str
    created: float
    outcome: str = "shown"  # shown | accepted | rejected
    offset: int = 0  # where it was inserted
    references: tuple = ()  # attribution.policy.Reference, spans relative to ``text``


@dataclass(frozen=True)
class _Plan:
    """What one request asks of the engine, and how its answer is filtered."""

    ctx: CompletionContext
    mode: str  # single | multi
    prompt: str
    filters: FilterContext
    stops: tuple[str, ...]
    max_tokens: int
    key: str  # the result cache's
    extra: tuple[tuple[str, str], ...] = ()  # repository context as (path, text)

    @property
    def parts(self) -> tuple[str, str]:
        """The prompt's prefix part and the text after its middle marker."""
        return _split_head(self.ctx)

    @property
    def indent(self) -> str:
        """Indentation typed on the line that the prompt leaves out (see _split_head):
        the model writes its own, and this much of it is taken off its answer."""
        ctx = self.ctx
        return ctx.line_head if ctx.typed and ctx.indentation_only else ""


def _typed_off(text: str, indent: str) -> str:
    """The model's answer without the indentation already typed (``_Plan.indent``);
    an answer indented less than that starts at the cursor."""
    if not indent or text.startswith(indent):
        return text[len(indent) :]
    return text.lstrip(" \t")


def _split_head(ctx: CompletionContext) -> tuple[str, str]:
    """(the prompt's prefix, the text after its middle marker). The text typed on the
    cursor's line goes after the middle marker, so the prompt's start stays the same
    while the user types on the line; but indentation alone stays with the prefix,
    where the model expects a line's start: healed after the marker, the model mostly
    wrote more whitespace, or code for another place (HumanEval block holes: 8 of 50
    suggestions empty, where the prefix layout answered all 8). Whole lines typed
    since the cache held the prompt (``ctx.typed``) go after the marker too; then
    indentation alone is left out: after those lines' line break the model writes a
    line's indentation itself (typed after the marker, unhealed, the model's first
    token added a space: " raise ...", repository benchmark line holes 0 exact)."""
    if ctx.typed:
        return ctx.before, ctx.typed + ("" if ctx.indentation_only else ctx.line_head)
    if ctx.indentation_only:
        return ctx.prefix, ""
    return ctx.before, ctx.line_head


def _refuse_binary(doc: Document, offset: int) -> None:
    probe = doc.text[max(0, offset - BINARY_PROBE_CHARS) : offset + BINARY_PROBE_CHARS]
    if "\x00" in probe:
        raise CompletionError(
            "the document looks binary (it contains NUL characters); no completion.",
            "Completions work on text files only.",
        )


def _decide(doc: Document, offset: int, s: CompletionSettings) -> TriggerDecision:
    """Whether to complete at ``offset``, and how much (should_complete)."""
    line, _ = doc.position_at(offset, "utf-32")
    line_start, line_end = doc.line_span(line)
    return should_complete(
        doc.text[line_start:offset],
        doc.text[offset:line_end],
        doc.language_id,
        multiline=s.multiline,
        skip_in_comments=s.skip_in_comments,
        skip_in_strings=s.skip_in_strings,
        prefix_tail=doc.text[max(0, offset - 2000) : offset],
    )


class CompletionService:
    def __init__(
        self,
        worker: EngineWorker,
        settings: CompletionSettings,
        template: FimTemplate | None = None,
        records: int = 1000,
    ) -> None:
        self.worker = worker
        self.settings = settings
        self._template_override = template
        self.cache = ResultCache(settings.cache_size)
        self.typed_ahead = TypedAhead()
        self.debounce = Debouncer(settings.debounce_max_ms)
        self._anchors: dict[str, int] = {}
        # uri -> the first line of the lines kept after the middle marker (see _plan)
        self._middle: dict[str, int] = {}
        self._last_prompt = ""  # the last prompt sent to the engine
        self._counter: TokenCounter | None = None
        self._records: OrderedDict[str, RequestRecord] = OrderedDict()
        self._max_records = records
        self.stats = {
            "requests": 0,
            "engine": 0,
            "cache": 0,
            "typed_ahead": 0,
            "skipped": 0,
            "accepted": 0,
            "rejected": 0,
            "blocked": 0,
            "debounced": 0,  # superseded while held back, before any engine call
        }
        self.attributor: Attributor | None = None
        # Repository context (other files' snippets); set by the server and the CLI,
        # which know the open documents and the workspace.
        self.repo: RepoContext | None = None
        self.warmer = Warmer(worker, self._count, self._ready, self._warm_prompt)
        self.warmer.enabled = settings.warm
        self.last_engine: dict[str, float] = {}

    # -- engine readiness ----------------------------------------------------
    async def _ready(self) -> None:
        if self.worker.state is WorkerState.IDLE:
            self.worker.start()
        if self.worker.state is WorkerState.LOADING:
            await asyncio.get_running_loop().run_in_executor(None, self.worker.wait_ready)
        if self.worker.state is not WorkerState.READY:
            err = self.worker.error
            if err is not None:
                raise CompletionError(err.message, err.hint)
            raise CompletionError(f"the engine is {self.worker.state.value}.")

    @property
    def template(self) -> FimTemplate:
        if self._template_override is not None:
            return self._template_override
        engine = self.worker.engine
        template = getattr(engine, "fim_template", None)
        if template is None:
            problem = getattr(engine, "template_problem", None)
            if problem is not None:  # a remote endpoint could not say which model it serves
                raise CompletionError(problem.message, problem.hint)
            raise CompletionError(
                "the model's fill-in-the-middle format could not be detected.",
                f"Set model.fim_template ({', '.join(fim.names())}) or "
                "model.fim_prefix/fim_suffix/fim_middle with fim_template = custom.",
            )
        return template

    async def _template(self) -> FimTemplate:
        """The template; a remote engine that could not yet tell which model it
        serves is asked again first (off the event loop)."""
        engine = self.worker.engine
        if (
            self._template_override is None
            and getattr(engine, "fim_template", None) is None
            and hasattr(engine, "discover")
        ):
            await asyncio.get_running_loop().run_in_executor(None, engine.discover)
        return self.template

    def _count(self) -> TokenCounter:
        if self._counter is None:
            engine = self.worker.engine
            assert engine is not None
            self._counter = TokenCounter(engine.count_tokens)
        return self._counter

    # -- reconfiguration (the server applies a new configuration) -------------------
    def set_template_override(self, template: FimTemplate | None) -> None:
        """Use ``template`` instead of the engine's own; None: the engine's again."""
        self._template_override = template

    def update_settings(self, settings: CompletionSettings) -> None:
        """New settings for the next requests; the cache keeps its entries (up to the
        new size)."""
        self.settings = settings
        self.cache.capacity = settings.cache_size
        self.debounce.max_ms = settings.debounce_max_ms
        self.warmer.enabled = settings.warm

    # -- the pipeline --------------------------------------------------------
    async def complete(
        self, doc: Document, offset: int, *, invoked: bool = False
    ) -> CompletionResult:
        started = time.perf_counter()
        request_id = uuid.uuid4().hex
        self.stats["requests"] += 1
        ticket = self.debounce.arrived(doc.uri, time.monotonic())
        try:
            result = await self._complete(doc, offset, request_id, invoked, ticket)
        finally:
            self.debounce.finished(doc.uri)
        self.warmer.shown(doc, result.offset, result.text)
        result.latency_ms = (time.perf_counter() - started) * 1000
        self.stats[result.source] = self.stats.get(result.source, 0) + 1
        self._log(result, doc)
        return result

    async def _complete(
        self, doc: Document, offset: int, request_id: str, invoked: bool, ticket: int = 0
    ) -> CompletionResult:
        s = self.settings  # the settings in force when the request came
        # 1. Typed ahead: the user typed the start of what is shown.
        shown = self._typed_ahead(doc, offset, request_id)
        if shown is not None:
            return shown
        _refuse_binary(doc, offset)

        # 2. Should we complete here, and how much?
        decision = _decide(doc, offset, s)
        mode = decision.mode
        if mode == "none":
            if not invoked:
                self.typed_ahead.forget(doc.uri)
                return CompletionResult(request_id, "", offset, "skipped", decision.reason)
            mode = "single"

        await self._ready()
        template = await self._template()

        # 3. Context and prompt.
        self._choose_window(doc, offset)
        plan = self._plan(doc, offset, mode, template, s)

        # 4. Cache.
        cached = self.cache.get(plan.key)
        if cached is not None:
            return self._judged(doc, offset, request_id, plan, cached, "cache")

        # 5. Engine (held back while the user types faster than it answers).
        if not invoked and await self._held_back(doc.uri, ticket):
            self.stats["debounced"] += 1
            return CompletionResult(
                request_id, "", offset, "superseded", "a newer request replaced this one", mode
            )
        engine_started = time.perf_counter()
        result = await self._generate(doc, plan, s)
        self._engine_ran(doc, plan, result.stats)
        if not result.cancelled:
            self.debounce.answered((time.perf_counter() - engine_started) * 1000)
        if result.cancelled:
            return CompletionResult(
                request_id,
                "",
                offset,
                "superseded",
                "a newer request replaced this one",
                mode=mode,
                stats=result.stats,
            )

        # 6. Post-process.
        text = postprocess(_typed_off(result.text, plan.indent), plan.filters)
        if result.stats.stop_reason not in (StopReason.TIME_BUDGET, StopReason.CANCELLED):
            self.cache.put(plan.key, text)  # judged again on every hit: the policy may change

        # 7. Attribution: matches with indexed code, and the license policy.
        out = self._judged(doc, offset, request_id, plan, text, "engine")
        out.stats = result.stats
        out.raw = result.text
        return out

    # -- warm-ups (safecoder_lsp.completion.warm) -------------------------------------
    def _prefills(self) -> bool:
        """The engine can evaluate a prompt without generating (the embedded one)."""
        return hasattr(self.worker.engine, "prefill")

    def warm_opened(self, doc: Document) -> None:
        """``doc`` was opened or became active: warm its start."""
        self.warmer.opened(doc, self.settings.prefix_tokens)

    def warm_edited(self, doc: Document, offset: int) -> None:
        """``doc`` was edited, ending at ``offset``: warm after a pause."""
        self.warmer.edited(doc, offset)

    def _choose_window(self, doc: Document, offset: int) -> None:
        """Where the prefix window starts: what the KV cache holds, else a short
        window for a cold file (the anchor later requests keep)."""
        if not self._prefills():
            return
        s = self.settings
        line = doc.position_at(offset, "utf-32")[0]
        self._anchors[doc.uri] = choose_window_start(
            doc,
            line,
            self._count(),
            s.prefix_tokens,
            s.cold_prefix_fraction,
            self._anchors.get(doc.uri),
            self.warmer.kv(),
        )

    def _warm_prompt(self, doc: Document, offset: int, prefix_only: bool) -> WarmPrompt:
        """The prompt a request at ``offset`` would use; ``prefix_only``: its prefix
        part alone (prefix-suffix-middle templates), as the first line of a fresh
        window."""
        template = self.template
        if not prefix_only:
            self._choose_window(doc, offset)
        plan = self._plan(doc, offset, "single", template, self.settings, canonical=True)
        text = plan.prompt
        tail = template.suffix + plan.ctx.suffix + template.middle + plan.parts[1]
        if prefix_only and template.order == "psm" and text.endswith(tail):
            text = text[: -len(tail)]
        return WarmPrompt(text, plan.ctx.start_line, plan.ctx.prefix_end_line)

    def _engine_ran(self, doc: Document, plan: _Plan, stats: GenerationStats) -> None:
        wp = WarmPrompt(plan.prompt, plan.ctx.start_line, plan.ctx.prefix_end_line)
        self.warmer.ran(doc, wp, stats)
        # The last engine call, for safecoder.stats (where a request's time went).
        self.last_engine = {
            "prompt_tokens": stats.prompt_tokens,
            "reused_tokens": stats.reused_tokens,
            "evaluated_tokens": stats.evaluated_tokens,
            "generated_tokens": stats.generated_tokens,
            "queue_ms": round(stats.queue_s * 1000, 1),
            "prompt_eval_ms": round(stats.prompt_eval_s * 1000, 1),
            "generation_ms": round(stats.generation_s * 1000, 1),
        }

    async def _held_back(self, uri: str, ticket: int) -> bool:
        """Wait the debounce delay; True when a newer request for ``uri`` came meanwhile."""
        delay = self.debounce.delay(uri)
        if delay <= 0:
            return False
        await asyncio.sleep(delay)
        return self.debounce.superseded(uri, ticket)

    def _typed_ahead(self, doc: Document, offset: int, request_id: str) -> CompletionResult | None:
        """The suggestion shown, when the user typed its start since; else None."""
        shown = self.typed_ahead.lookup(doc, offset)
        if shown is None:
            return None
        self.typed_ahead.remember(doc, offset, shown.text, shown.request_id)
        refs = self._remaining_references(shown.request_id, shown.text)
        self._record(request_id, doc.uri, shown.text, offset, refs)
        return CompletionResult(request_id, shown.text, offset, "typed_ahead", references=refs)

    def _plan(
        self,
        doc: Document,
        offset: int,
        mode: str,
        template: FimTemplate,
        s: CompletionSettings,
        *,
        canonical: bool = False,
    ) -> _Plan:
        """What to ask the engine for a request at ``offset``. The ``lead_lines`` whole
        lines before the cursor's line go after the middle marker with the text typed on
        the line: the model continues them as its own answer (HumanEval single-line
        infilling, raw model, 300 tasks: 0.59 -> 0.78 pass@1 with 3; bench/RESULTS.md).
        After a new line the usual prompt differs from the last one before its suffix,
        which the engine would evaluate again; so the lines typed since the split in
        ``_middle`` (at most ``middle_lines`` more) stay after the middle marker too,
        whenever the engine's cache holds more of that prompt than of the usual one.
        ``canonical``: the usual prompt, nothing remembered (warm-ups, which bring the
        cache back to it while the user is idle)."""
        line = doc.position_at(offset, "utf-32")[0]
        plan = self._plan_at(doc, offset, mode, template, s, middle_from=line - s.lead_lines)
        if canonical:
            return plan
        split, held = plan.ctx.prefix_end_line, self._middle.get(doc.uri)
        if held is not None and 0 < split - held <= s.middle_lines:
            alt = self._plan_at(doc, offset, mode, template, s, middle_from=held)
            if self._reused(alt.prompt) > self._reused(plan.prompt):
                return alt
        self._middle[doc.uri] = split
        return plan

    def _reused(self, prompt: str) -> int:
        """How much of ``prompt`` the engine's cache holds: tokens, from the embedded
        engine; else characters in common with the last prompt sent (a remote server
        keeps a user's last prompt, ours per slot)."""
        probe = getattr(self.worker.engine, "cached_prefix", None)
        if probe is None:
            return common_prefix(prompt, self._last_prompt)
        try:
            return probe(prompt)
        except Exception:  # a hint only: the engine may be reloading
            return 0

    def _plan_at(
        self,
        doc: Document,
        offset: int,
        mode: str,
        template: FimTemplate,
        s: CompletionSettings,
        middle_from: int | None = None,
    ) -> _Plan:
        ctx = build_context(
            doc,
            offset,
            self._count(),
            s.prefix_tokens,
            s.suffix_tokens,
            anchor=self._anchors.get(doc.uri),
            middle_from=middle_from,
        )
        self._anchors[doc.uri] = ctx.start_line
        snippets = self._snippets(ctx, template, s)
        before, head = _split_head(ctx)
        prompt = template.build(before, ctx.suffix, head, snippets.block)
        stops = template.stop_words + tuple(s.stop) + (("\n",) if mode == "single" else ())
        max_tokens = s.single_line_max_tokens if mode == "single" else s.max_tokens
        return _Plan(
            ctx=ctx,
            mode=mode,
            prompt=prompt,
            filters=FilterContext(
                prefix=ctx.prefix, suffix=ctx.suffix, language=ctx.language, mode=mode
            ),
            stops=stops,
            max_tokens=max_tokens,
            key=cache_key(prompt, mode, max_tokens, stops, s.temperature),
            extra=snippets.files,
        )

    def _snippets(
        self, ctx: CompletionContext, template: FimTemplate, s: CompletionSettings
    ) -> Snippets:
        """Repository context for the prompt: a snapshot that stays byte-identical
        while the user types (safecoder_lsp/repo_context)."""
        if self.repo is None or s.context_tokens <= 0:
            return EMPTY
        cursor = Cursor(ctx.path, ctx.language, ctx.cursor_line, ctx.prefix, ctx.suffix)
        return self.repo.snippets(cursor, template, self._count(), s.context_tokens)

    async def _generate(
        self, doc: Document, plan: _Plan, s: CompletionSettings
    ) -> GenerationResult:
        """The engine's answer to ``plan`` (newer requests for ``doc`` replace it)."""
        ctx, fctx = plan.ctx, plan.filters
        before, head = plan.parts
        request = GenerationRequest(
            prompt=plan.prompt,
            fim=FimParts(before, ctx.suffix, head, self._extra(plan)),
            max_tokens=plan.max_tokens,
            stop=plan.stops,
            temperature=s.temperature,
            time_budget_s=s.time_budget_ms / 1000,
            # Code typed on the line ends the prompt, possibly mid-token. Not a line
            # break or indentation: healing those forced code right after them (the
            # lead lines' last line break: code at column 0; HumanEval single-line
            # 0.52 against 0.78 unhealed; bench/RESULTS.md).
            heal=bool(ctx.line_head.strip()),
            should_stop=(
                (lambda text: block_finished(_typed_off(text, plan.indent), fctx))
                if plan.mode == "multi"
                else None
            ),
        )
        job = self.worker.submit(doc.uri, request)
        self._last_prompt = plan.prompt
        try:
            return await asyncio.wrap_future(job.future)
        except asyncio.CancelledError:
            job.cancel()
            raise
        except EngineError as exc:
            raise CompletionError(exc.message, exc.hint) from exc

    def _judged(
        self, doc: Document, offset: int, request_id: str, plan: _Plan, text: str, source: str
    ) -> CompletionResult:
        """``text`` shown, or blocked by the attribution policy."""
        refs = self._attribute(plan.ctx.prefix, text)
        if refs is None:
            return self._blocked(request_id, offset, plan.mode)
        return self._shown(doc, offset, text, request_id, source, plan.mode, plan.prompt, refs)

    def _extra(self, plan: _Plan) -> tuple[tuple[str, str], ...]:
        """Other files' snippets for engines that take them apart (/infill's input_extra)."""
        return plan.extra if getattr(self.worker.engine, "wants_other_files", False) else ()

    def _attribute(self, prefix: str, text: str) -> tuple | None:
        """The references of ``text`` (empty without an index); None when blocked."""
        if self.attributor is None or not text:
            return ()
        verdict = self.attributor.judge(prefix, text)
        return None if verdict.blocked else verdict.references

    def _blocked(self, request_id: str, offset: int, mode: str) -> CompletionResult:
        # counted as source "blocked" by done()
        return CompletionResult(
            request_id,
            "",
            offset,
            "blocked",
            "the suggestion matches indexed code under a license outside "
            "attribution.allowed_licenses (attribution.action = block)",
            mode=mode,
        )

    def _shown(
        self,
        doc: Document,
        offset: int,
        text: str,
        request_id: str,
        source: str,
        mode: str,
        prompt: str,
        references: tuple = (),
    ) -> CompletionResult:
        self.typed_ahead.remember(doc, offset, text, request_id)
        self._record(request_id, doc.uri, text, offset, references)
        return CompletionResult(
            request_id, text, offset, source, mode=mode, prompt=prompt, references=references
        )

    # -- request records (accept / reject) ---------------------------------------
    def _record(
        self, request_id: str, uri: str, text: str, offset: int, references: tuple = ()
    ) -> None:
        self._records[request_id] = RequestRecord(
            request_id, uri, text, time.time(), offset=offset, references=references
        )
        while len(self._records) > self._max_records:
            self._records.popitem(last=False)

    def _remaining_references(self, original_id: str, rest: str) -> tuple:
        """The references of a shown suggestion, for the part not typed yet."""
        original = self._records.get(original_id)
        if original is None or not original.references:
            return ()
        typed = len(original.text) - len(rest)
        out = []
        for ref in original.references:
            m = ref.match
            if m.end - typed > 0:
                moved = dataclasses.replace(m, start=max(0, m.start - typed), end=m.end - typed)
                out.append(dataclasses.replace(ref, match=moved))
        return tuple(out)

    def record(self, request_id: str) -> RequestRecord | None:
        return self._records.get(request_id)

    def mark(self, request_id: str, outcome: str) -> RequestRecord | None:
        rec = self._records.get(request_id)
        if rec is not None:
            rec.outcome = outcome
            if outcome in ("accepted", "rejected"):
                self.stats[outcome] += 1
        return rec

    def forget_document(self, uri: str) -> None:
        self.typed_ahead.forget(uri)
        self.debounce.forget(uri)
        self._anchors.pop(uri, None)
        self._middle.pop(uri, None)
        if self.repo is not None:
            self.repo.forget(uri)
        self.warmer.forget(uri)

    def _log(self, result: CompletionResult, doc: Document) -> None:
        st = result.stats
        log.info(
            "completion %s source=%s mode=%s chars=%d latency_ms=%.1f%s%s",
            result.request_id,
            result.source,
            result.mode,
            len(result.text),
            result.latency_ms,
            (
                f" prompt_tokens={st.prompt_tokens} reused={st.reused_tokens} "
                f"evaluated={st.evaluated_tokens} generated={st.generated_tokens} "
                f"stop={st.stop_reason.value if st.stop_reason else None}"
                if st
                else ""
            ),
            f" reason={result.reason!r}" if result.reason else "",
        )
        if self.settings.include_code_in_logs:
            log.info("completion %s text=%r", result.request_id, result.text)
