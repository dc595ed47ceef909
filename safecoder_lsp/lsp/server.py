"""The language server: thin handlers that convert LSP types and call pure code.

Features: textDocument/inlineCompletion (primary), llm-ls/getCompletions,
llm-ls/acceptCompletion, llm-ls/rejectCompletion (Hugging Face plugins),
textDocument/completion (fallback for clients without inline completion),
full and incremental document sync, $/cancelRequest, $/progress while the model
loads, workspace/didChangeConfiguration and workspace/configuration.

Commands: safecoder.acceptCompletion (run by the editor when a suggestion is
accepted; its arguments are ``[request_id]`` or, when the suggestion matches indexed
code, ``[request_id, {"references": [...]}]``), safecoder.stats, and
safecoder.showReferenceLog (the latest reference log entries; ``{"limit": N}``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections import OrderedDict
from typing import Any

from lsprotocol import types as t
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer

from attribution.index import AttributionError
from safecoder_lsp import __version__, llmls, plugin_backend, references
from safecoder_lsp.completion.service import CompletionError, CompletionResult, CompletionService
from safecoder_lsp.config import Config, ConfigProblem, LoadResult, load_config
from safecoder_lsp.documents import Document, DocumentError, DocumentStore, Encoding
from safecoder_lsp.lsp.protocol import SafecoderProtocol
from safecoder_lsp.runtime import (
    attributor,
    build_service,
    completion_settings,
    engine_config_changed,
    template_override,
)

log = logging.getLogger(__name__)

ACCEPT_COMMAND = "safecoder.acceptCompletion"
STATS_COMMAND = "safecoder.stats"
SHOW_REFERENCE_LOG_COMMAND = "safecoder.showReferenceLog"
_WORD_TAIL = re.compile(r"[\w$]+$")
# Endpoints named by Hugging Face plugins: clients kept, refusals remembered.
MAX_PLUGIN_SERVICES = 2
MAX_PLUGIN_REFUSALS = 64
# Repository context for engines that take it: this many other files, each cut here.
OTHER_FILES = 3
OTHER_FILE_CHARS = 2000

_ENCODINGS: dict[str, Encoding] = {
    t.PositionEncodingKind.Utf8.value: "utf-8",
    t.PositionEncodingKind.Utf16.value: "utf-16",
    t.PositionEncodingKind.Utf32.value: "utf-32",
}


class SafecoderServer(LanguageServer):
    def __init__(self, *, user_file: Any = "default", env: dict[str, str] | None = None) -> None:
        super().__init__(
            "safecoder-lsp",
            __version__,
            protocol_cls=SafecoderProtocol,
            text_document_sync_kind=t.TextDocumentSyncKind.Incremental,
        )
        self.documents = DocumentStore()
        self._user_file = user_file
        self._env = env
        self._init_options: Any = None
        self._workspace_settings: Any = None
        result = load_config(user_file=user_file, env=env)
        self.config: Config = result.config
        self.pinned: dict[str, str] = dict(result.pinned)  # keys the admin policy sets
        self._pending_problems: list[ConfigProblem] = list(result.problems)
        self.service: CompletionService | None = None
        self._attribution_problem: str | None = None
        self._reference_diagnostics: dict[str, list[t.Diagnostic]] = {}
        self._told: set[str] = set()
        self._told_engine: set[str] = set()
        # A Hugging Face plugin asked through llm-ls/getCompletions: it shows ghost text.
        self.llmls_client = False  # errors of requests, told again after a success
        self._loop: asyncio.AbstractEventLoop | None = None
        self._recent: OrderedDict[str, None] = OrderedDict()  # URIs, last edited last
        # The endpoint a Hugging Face plugin named (plugin_backend): its key and service.
        # (a few, most recently used last: requests for two of them may overlap)
        self._plugins: OrderedDict[tuple, tuple[plugin_backend.PluginBackend, CompletionService]]
        self._plugins = OrderedDict()
        self._config_generation = 0  # bumped by every configuration applied
        # key -> (why, when decided)
        self._plugin_refused: dict[tuple, tuple[plugin_backend.Refusal, float]] = {}

    # -- helpers used by the handlers --------------------------------------------
    @property
    def encoding(self) -> Encoding:
        enc = self.workspace.position_encoding
        value = enc.value if isinstance(enc, t.PositionEncodingKind) else str(enc or "utf-16")
        return _ENCODINGS.get(value, "utf-16")

    def tell(
        self, message: str, kind: t.MessageType = t.MessageType.Error, once: bool = True
    ) -> None:
        """Show a message to the user; by default each distinct message only once."""
        if once:
            if message in self._told:
                return
            self._told.add(message)
        log.log(logging.ERROR if kind == t.MessageType.Error else logging.INFO, "%s", message)
        self.window_show_message(t.ShowMessageParams(type=kind, message=f"safecoder: {message}"))

    def report_problems(self, problems: list[ConfigProblem]) -> None:
        for problem in problems:
            self.tell(str(problem), t.MessageType.Warning)

    def load(self) -> LoadResult:
        return load_config(
            user_file=self._user_file,
            env=self._env,
            init_options=self._init_options,
            workspace_settings=self._workspace_settings,
        )

    def apply_config(self, result: LoadResult) -> None:
        old, new = self.config, result.config
        self.config = new
        self._config_generation += 1
        if (
            engine_config_changed(old, new)
            or self.pinned != result.pinned
            or old.network.plugin_endpoints != new.network.plugin_endpoints
        ):
            self.close_plugin_services()  # built from the old configuration
            self._plugin_refused.clear()  # decided under it
        self.pinned = dict(result.pinned)
        if self.service is None or engine_config_changed(old, new):
            if self.service is not None:
                self.service.worker.close(timeout=0)
                if self.service.attributor is not None:
                    self.service.attributor.close()
            self.start_service(new)
        else:
            self.service._template_override = template_override(new)
            for service in self.services():  # the plugin's keeps its FIM template
                service.settings = completion_settings(new)
                service.cache.capacity = new.completion.cache_size
        problem = self.attach_attribution()
        if problem:
            self.tell(problem, t.MessageType.Warning)
        self.report_problems(result.problems)

    def start_service(self, config: Config) -> None:
        self._loop = asyncio.get_running_loop()
        self.service = build_service(config, self.notify_from_engine)
        self.service.other_files = self.other_files
        self.service.worker.start()

    async def plugin_service(
        self, plugin: plugin_backend.PluginBackend
    ) -> CompletionService | None:
        """The service for the endpoint a plugin named; None (the user told once why)
        when the policy or the egress guard does not allow it."""
        known = self._plugins.get(plugin.key)
        if known is not None:
            self._plugins.move_to_end(plugin.key)
            return known[1]
        refusal = self._refused(plugin.key)
        if refusal is None:
            generation = self._config_generation
            refusal = plugin_backend.policy_refusal(plugin, self.config, self.pinned)
            if refusal is None:
                loop = asyncio.get_running_loop()  # resolving the host may block
                refusal = await loop.run_in_executor(
                    None, plugin_backend.egress_refusal, plugin, self.config
                )
            if generation != self._config_generation:  # decided under an older one
                return await self.plugin_service(plugin)
            if refusal is not None:
                if len(self._plugin_refused) >= MAX_PLUGIN_REFUSALS:
                    self._plugin_refused.clear()
                self._plugin_refused[plugin.key] = (refusal, time.monotonic())
        if refusal is not None:
            self.tell(refusal.message, t.MessageType.Warning)
            return None
        known = self._plugins.get(plugin.key)
        if known is not None:  # made by a request that overlapped the check above
            return known[1]
        config = plugin_backend.plugin_config(self.config, plugin)
        service = build_service(config, self.notify_from_engine, token=plugin.token)
        service.other_files = self.other_files
        service.attributor = self.service.attributor if self.service is not None else None
        service.worker.start()
        self._plugins[plugin.key] = (plugin, service)
        while len(self._plugins) > MAX_PLUGIN_SERVICES:
            _, (_, oldest) = self._plugins.popitem(last=False)
            oldest.worker.close(timeout=0)
        self.tell(
            f"completions come from the endpoint the plugin names: {plugin.url} "
            f"({plugin.backend}{', ' + plugin.model if plugin.model else ''}).",
            t.MessageType.Info,
        )
        return service

    def _refused(self, key: tuple) -> plugin_backend.Refusal | None:
        """The refusal decided earlier for ``key``, unless it was to be tried again."""
        refusal, decided = self._plugin_refused.get(key, (None, 0.0))
        if refusal is None or refusal.retry_after_s is None:
            return refusal
        return refusal if time.monotonic() - decided < refusal.retry_after_s else None

    def close_plugin_services(self) -> None:
        """Drop the plugins' endpoints (their attribution index is the main service's)."""
        while self._plugins:
            _, (_, service) = self._plugins.popitem()
            service.worker.close(timeout=0)

    def services(self) -> list[CompletionService]:
        out = [self.service] if self.service is not None else []
        return out + [service for _, service in self._plugins.values()]

    def notify_from_engine(self, message: str) -> None:
        """A message from the engine's thread (the local fallback took over or gave
        back): shown every time it happens."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.tell, message, t.MessageType.Warning, False)

    def other_files(self, doc: Document) -> list[tuple[str, str]]:
        """Other open files in ``doc``'s language, most recently edited first, for
        engines that take repository context (llama.cpp /infill's input_extra)."""
        out: list[tuple[str, str]] = []
        for uri in reversed(self._recent):
            if uri == doc.uri or uri not in self.documents:
                continue
            other = self.documents.get(uri)
            if other.language_id == doc.language_id:
                name = uri.rsplit("/", 1)[-1] or uri
                out.append((name, other.text[:OTHER_FILE_CHARS]))
                if len(out) == OTHER_FILES:
                    break
        return out

    def edited(self, uri: str) -> None:
        self._recent.pop(uri, None)
        self._recent[uri] = None
        while len(self._recent) > 32:
            self._recent.popitem(last=False)

    def attach_attribution(self) -> str | None:
        """(Re)open the attribution index for the configuration in force; the problem
        to show the user when it cannot be used (suggestions then go unchecked)."""
        if self.service is None:
            return None
        if self.service.attributor is not None:
            self.service.attributor.close()
            self.service.attributor = None
        try:
            self.service.attributor = attributor(self.config)
        except AttributionError as exc:
            return str(exc)
        finally:
            for _, service in self._plugins.values():  # they share the main index
                service.attributor = self.service.attributor
        return None

    def accepted(self, request_id: str) -> None:
        """The user accepted a suggestion: record it; tell where its code comes from."""
        record = self.mark(request_id, "accepted")
        if record is None or not record.references:
            return
        references.append_to_log(record)
        try:
            doc = self.documents.get(record.uri)
        except DocumentError:
            return
        found = self._reference_diagnostics.setdefault(record.uri, [])
        found.extend(references.diagnostics(doc, record, self.encoding))
        self.text_document_publish_diagnostics(
            t.PublishDiagnosticsParams(uri=record.uri, diagnostics=list(found))
        )

    def mark(self, request_id: str, outcome: str):
        """Record the outcome of a suggestion with whichever service made it."""
        for service in self.services():
            record = service.mark(request_id, outcome)
            if record is not None:
                return record
        return None

    def locate(self, uri: str, line: int, character: int) -> tuple[Document, int]:
        try:
            doc = self.documents.get(uri)
            return doc, doc.offset_at(line, character, self.encoding)
        except DocumentError as exc:
            raise JsonRpcInvalidParams(str(exc)) from exc

    async def complete(
        self,
        doc: Document,
        offset: int,
        invoked: bool,
        service: CompletionService | None = None,
    ) -> CompletionResult | None:
        service = service or self.service
        if not self.config.completion.enabled or service is None:
            return None
        try:
            result = await service.complete(doc, offset, invoked=invoked)
        except CompletionError as exc:
            self._told_engine.add(str(exc))
            self.tell(str(exc))
            return None
        except DocumentError as exc:
            raise JsonRpcInvalidParams(str(exc)) from exc
        if result.source == "engine" and self._told_engine:
            # Working again: the same failure later is news to the user.
            self._told -= self._told_engine
            self._told_engine.clear()
        return result


def create_server(**kwargs: Any) -> SafecoderServer:
    server = SafecoderServer(**kwargs)
    _register(server)
    return server


def _register(server: SafecoderServer) -> None:
    @server.feature(t.INITIALIZE)
    def initialize(ls: SafecoderServer, params: t.InitializeParams) -> None:
        ls._init_options = params.initialization_options
        result = ls.load()
        ls._pending_problems = list(result.problems)
        ls.config = result.config
        ls.pinned = dict(result.pinned)
        ls.start_service(result.config)
        ls._attribution_problem = ls.attach_attribution()

    @server.feature(t.INITIALIZED)
    async def initialized(ls: SafecoderServer, params: t.InitializedParams) -> None:
        ls.report_problems(ls._pending_problems)
        ls._pending_problems = []
        if ls._attribution_problem:
            ls.tell(ls._attribution_problem, t.MessageType.Warning)
        caps = ls.client_capabilities
        if caps.workspace is not None and caps.workspace.configuration:
            await _pull_configuration(ls)
        await _report_model_load(ls)

    @server.feature(t.SHUTDOWN)
    def shutdown(ls: SafecoderServer, params: Any) -> None:
        for service in ls.services():
            service.worker.close(timeout=2)

    # -- documents -----------------------------------------------------------
    @server.feature(t.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: SafecoderServer, params: t.DidOpenTextDocumentParams) -> None:
        d = params.text_document
        ls.documents.open(d.uri, d.text, d.version, d.language_id)
        ls.edited(d.uri)

    @server.feature(t.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: SafecoderServer, params: t.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        try:
            doc = ls.documents.get(uri)
            for change in params.content_changes:
                if isinstance(change, t.TextDocumentContentChangePartial):
                    r = change.range
                    doc.replace(
                        (r.start.line, r.start.character),
                        (r.end.line, r.end.character),
                        change.text,
                        ls.encoding,
                    )
                else:
                    doc.set_text(change.text)
            doc.version = params.text_document.version
            ls.edited(uri)
        except DocumentError as exc:
            ls.documents.close(uri)
            ls.tell(f"lost track of {uri}: {exc}. Close and reopen the file to resume completions.")

    @server.feature(t.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: SafecoderServer, params: t.DidCloseTextDocumentParams) -> None:
        ls.documents.close(params.text_document.uri)
        ls._reference_diagnostics.pop(params.text_document.uri, None)
        for service in ls.services():
            service.forget_document(params.text_document.uri)

    # -- completions -----------------------------------------------------------
    @server.feature(t.TEXT_DOCUMENT_INLINE_COMPLETION, t.InlineCompletionOptions())
    async def inline_completion(
        ls: SafecoderServer, params: t.InlineCompletionParams
    ) -> t.InlineCompletionList:
        pos = params.position
        doc, offset = ls.locate(params.text_document.uri, pos.line, pos.character)
        invoked = params.context.trigger_kind == t.InlineCompletionTriggerKind.Invoked
        result = await ls.complete(doc, offset, invoked)
        if result is None or not result.text:
            return t.InlineCompletionList(items=[])
        item = t.InlineCompletionItem(
            insert_text=result.text,
            range=t.Range(start=pos, end=pos),
            command=_accept_command(
                result.request_id, references.as_json(result.references, len(result.text))
            ),
        )
        return t.InlineCompletionList(items=[item])

    @server.feature(
        t.TEXT_DOCUMENT_COMPLETION,
        t.CompletionOptions(trigger_characters=[".", "(", " ", "=", ":", ","]),
    )
    async def completion(ls: SafecoderServer, params: t.CompletionParams) -> t.CompletionList:
        caps = ls.client_capabilities.text_document
        if (caps is not None and caps.inline_completion is not None) or ls.llmls_client:
            # The client shows inline suggestions (natively, or a Hugging Face plugin
            # through llm-ls/getCompletions): a popup item would duplicate them.
            return t.CompletionList(is_incomplete=False, items=[])
        pos = params.position
        doc, offset = ls.locate(params.text_document.uri, pos.line, pos.character)
        invoked = (
            params.context is None or params.context.trigger_kind == t.CompletionTriggerKind.Invoked
        )
        result = await ls.complete(doc, offset, invoked)
        if result is None or not result.text:
            return t.CompletionList(is_incomplete=True, items=[])
        return t.CompletionList(
            is_incomplete=True, items=[_completion_item(doc, offset, pos, result, ls)]
        )

    # -- llm-ls (Hugging Face plugins) ---------------------------------------------
    @server.feature("llm-ls/getCompletions")
    async def llmls_get_completions(ls: SafecoderServer, params: Any) -> dict[str, Any]:
        ls.llmls_client = True
        try:
            p = llmls.parse_get_completions(params)
        except llmls.LlmLsParamsError as exc:
            raise JsonRpcInvalidParams(f"llm-ls/getCompletions: {exc}") from exc
        service = None
        plugin = plugin_backend.requested(p)
        if plugin is not None:
            service = await ls.plugin_service(plugin)
        elif p.url or p.api_token_sent or (p.backend and p.backend != "llamacpp"):
            ls.tell(
                "the plugin's backend/url/apiToken settings are not used: completions come "
                f"from the configured engine (engine.kind = {ls.config.engine.kind}). "
                "Set llm.url to an endpoint in your network, or change the engine in the "
                "safecoder configuration.",
                t.MessageType.Info,
            )
        doc, offset = ls.locate(p.uri, p.line, p.character)
        result = await ls.complete(doc, offset, invoked=False, service=service)
        if result is None:
            return llmls.completions_result(uuid.uuid4().hex, [], [])
        text = llmls.clear_tokens(result.text, p.tokens_to_clear)
        refs = references.as_json(result.references, len(text))
        return llmls.completions_result(result.request_id, [text] if text else [], refs)

    @server.feature("llm-ls/acceptCompletion")
    def llmls_accept(ls: SafecoderServer, params: Any) -> None:
        _mark(ls, params, "accepted")

    @server.feature("llm-ls/rejectCompletion")
    def llmls_reject(ls: SafecoderServer, params: Any) -> None:
        _mark(ls, params, "rejected")

    @server.command(ACCEPT_COMMAND)
    def accept_command(ls: SafecoderServer, *args: Any) -> None:
        rid = _first_argument(args)
        if isinstance(rid, str):
            ls.accepted(rid)

    @server.command(SHOW_REFERENCE_LOG_COMMAND)
    def show_reference_log(ls: SafecoderServer, *args: Any) -> list[dict[str, Any]]:
        return references.read_log(limit=_log_limit(_first_argument(args)))

    @server.command(STATS_COMMAND)
    def stats_command(ls: SafecoderServer, *args: Any) -> dict[str, Any]:
        service = ls.service
        if service is None:
            return {"engine_state": "none"}
        worker = service.worker
        info = worker.engine.info() if worker.engine is not None else None
        return {
            "engine_state": worker.state.value,
            "engine_kind": info.kind if info else None,
            "model": info.model if info else None,
            "error": str(worker.error) if worker.error else None,
            # A Hugging Face plugin's own endpoint, where its requests go (plugin_backend).
            "plugin_endpoint": next(reversed(ls._plugins.values()))[0].url if ls._plugins else None,
            **service.stats,
            **worker.counters(),
            "cache_entries": len(service.cache),
            "documents": len(ls.documents),
        }

    # -- configuration -----------------------------------------------------------
    @server.feature(t.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: SafecoderServer, params: t.DidChangeConfigurationParams
    ) -> None:
        settings = params.settings
        if isinstance(settings, dict) and settings:
            ls._workspace_settings = settings.get("safecoder", settings)
            ls.apply_config(ls.load())
        else:
            await _pull_configuration(ls)


def _mark(ls: SafecoderServer, params: Any, outcome: str) -> None:
    try:
        rid = llmls.request_id_of(params)
    except llmls.LlmLsParamsError as exc:
        raise JsonRpcInvalidParams(str(exc)) from exc
    if outcome == "accepted":
        ls.accepted(rid)
    else:
        ls.mark(rid, outcome)


def _first_argument(args: tuple[Any, ...]) -> Any:
    """A command's first argument; some clients wrap all arguments in one list."""
    first = args[0] if args else None
    if isinstance(first, list | tuple):
        first = first[0] if first else None
    return first


def _log_limit(arg: Any) -> int:
    """The ``limit`` of ``{"limit": N}`` (the default without one)."""
    if arg is None:
        return references.DEFAULT_LOG_LIMIT
    limit = arg.get("limit", references.DEFAULT_LOG_LIMIT) if isinstance(arg, dict) else arg
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise JsonRpcInvalidParams(
            f'{SHOW_REFERENCE_LOG_COMMAND}: expected {{"limit": N}} with N >= 0, got {arg!r}'
        )
    return limit


def _accept_command(request_id: str, refs: list[dict[str, Any]]) -> t.Command:
    """The command an editor runs once the suggestion is accepted; it carries the
    suggestion's references for clients that show them."""
    arguments: list[Any] = [request_id, {"references": refs}] if refs else [request_id]
    return t.Command(title="Accept", command=ACCEPT_COMMAND, arguments=arguments)


def _documentation(ls: SafecoderServer, language: str, code: str) -> t.MarkupContent | str:
    """The suggestion as a Markdown code block when the client shows Markdown, else
    plain text (Helix and Eglot ask for no format: plain text)."""
    caps = ls.client_capabilities.text_document
    item = caps.completion.completion_item if caps and caps.completion else None
    if item is not None and t.MarkupKind.Markdown in (item.documentation_format or []):
        return t.MarkupContent(kind=t.MarkupKind.Markdown, value=f"```{language}\n{code}\n```")
    return code


def _completion_item(
    doc: Document, offset: int, pos: t.Position, result: CompletionResult, ls: SafecoderServer
) -> t.CompletionItem:
    line, _ = doc.position_at(offset, "utf-32")
    line_start = doc.line_span(line)[0]
    match = _WORD_TAIL.search(doc.text[line_start:offset])
    word = match.group(0) if match else ""
    start_line, start_char = doc.position_at(offset - len(word), ls.encoding)
    first = result.text.splitlines()[0] if result.text.strip() else result.text
    label = (word + first).strip() or result.text.strip()
    return t.CompletionItem(
        label=label[:80],
        kind=t.CompletionItemKind.Snippet,
        detail="safecoder",
        documentation=_documentation(ls, doc.language_id, word + result.text),
        filter_text=word + result.text,
        sort_text="0",
        insert_text_format=t.InsertTextFormat.PlainText,
        text_edit=t.TextEdit(
            range=t.Range(start=t.Position(line=start_line, character=start_char), end=pos),
            new_text=word + result.text,
        ),
        command=_accept_command(
            result.request_id,
            references.as_json(result.references, len(result.text), base_offset=len(word)),
        ),
        data={"request_id": result.request_id},
    )


async def _pull_configuration(ls: SafecoderServer) -> None:
    try:
        values = await asyncio.wait_for(
            ls.workspace_configuration_async(
                t.ConfigurationParams(items=[t.ConfigurationItem(section="safecoder")])
            ),
            timeout=10,
        )
    except Exception as exc:  # a client that does not answer must not block us
        log.warning("workspace/configuration failed: %s", exc)
        return
    settings = values[0] if values else None
    ls._workspace_settings = settings if isinstance(settings, dict) else None
    ls.apply_config(ls.load())


async def _report_model_load(ls: SafecoderServer) -> None:
    service = ls.service
    if service is None:
        return
    worker = service.worker
    caps = ls.client_capabilities.window
    token: str | None = None
    if caps is not None and caps.work_done_progress:
        token = f"safecoder-load-{uuid.uuid4().hex[:8]}"
        try:
            await asyncio.wait_for(ls.work_done_progress.create_async(token), timeout=5)
            ls.work_done_progress.begin(
                token, t.WorkDoneProgressBegin(title="safecoder: loading model", cancellable=False)
            )
        except Exception as exc:
            log.warning("could not create progress: %s", exc)
            token = None
    ready = await asyncio.get_running_loop().run_in_executor(None, worker.wait_ready)
    if ready and worker.engine is not None:
        info = worker.engine.info()
        if "url" in info.details:  # a remote engine: nothing was loaded here
            message = f"{info.kind} endpoint {info.details['url']} ({info.model})"
        else:
            message = f"{info.model} ready ({info.details.get('load_s', '?')} s)"
    else:
        message = "model failed to load"
    if token is not None:
        ls.work_done_progress.end(token, t.WorkDoneProgressEnd(message=message))
    if not ready and worker.error is not None:
        ls.tell(str(worker.error))
