"""The language server's state and the public methods its handlers call.

The handlers themselves live in the modules of this package, one per concern
(``documents``, ``completion``, ``llmls``, ``commands``, ``configuration``,
``lifecycle``); ``safecoder_lsp.lsp.app.create_server`` registers them all. Handlers
read the server's public attributes and call its methods; they never write its
private fields. The endpoints Hugging Face plugins name are kept by
``safecoder_lsp.lsp.plugins.PluginServices``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any

from lsprotocol import types as t
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer

from attribution.index import AttributionError
from safecoder_lsp import __version__, references
from safecoder_lsp.completion.service import (
    CompletionError,
    CompletionResult,
    CompletionService,
    RequestRecord,
)
from safecoder_lsp.config import Config, ConfigProblem, LoadResult, load_config
from safecoder_lsp.documents import Document, DocumentError, DocumentStore, Encoding
from safecoder_lsp.lsp.plugins import PluginServices
from safecoder_lsp.lsp.protocol import SafecoderProtocol
from safecoder_lsp.repo_context.provider import OpenDocument, RepoContext
from safecoder_lsp.repo_context.workspace import WorkspaceFiles
from safecoder_lsp.runtime import (
    attributor,
    build_service,
    completion_settings,
    context_settings,
    engine_config_changed,
    template_override,
)

log = logging.getLogger(__name__)

RECENT_URIS = 32  # the most recently edited documents remembered

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
        self._told_engine: set[str] = set()  # errors of requests, told again after a success
        # A Hugging Face plugin asked through llm-ls/getCompletions: it shows ghost text.
        self.llmls_client = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._recent: OrderedDict[str, int | None] = OrderedDict()  # URI: line last edited
        self._roots: list[Path] = []  # the workspace's folders (initialize)
        self.workspace_files: WorkspaceFiles | None = None  # read for repository context
        # The endpoints Hugging Face plugins named (plugin_backend), with their services.
        self.plugins = PluginServices(self.config, self.pinned, self._plugin_service, self.tell)

    # -- messages to the user ------------------------------------------------------
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

    def notify_from_engine(self, message: str) -> None:
        """A message from the engine's thread (the local fallback took over or gave
        back): shown every time it happens."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.tell, message, t.MessageType.Warning, False)

    # -- configuration -------------------------------------------------------------
    def set_roots(self, roots: list[Path]) -> None:
        """The workspace folders the client named at initialize (before initialize_with)."""
        self._roots = [r for r in roots if r.is_dir()]

    def initialize_with(self, init_options: Any) -> None:
        """The initialize request: the configuration with the client's
        initializationOptions; the engine starts and the attribution index opens. The
        problems found are shown once the client is ready (report_startup_problems)."""
        self._init_options = init_options
        result = self.load()
        self._pending_problems = list(result.problems)
        self.config = result.config
        self.pinned = dict(result.pinned)
        self.plugins.configure(self.config, self.pinned)
        self.start_service(result.config)
        self._attribution_problem = self.attach_attribution()

    def report_startup_problems(self) -> None:
        """Show what was found wrong while initializing (the client is ready now)."""
        self.report_problems(self._pending_problems)
        self._pending_problems = []
        if self._attribution_problem:
            self.tell(self._attribution_problem, t.MessageType.Warning)

    def set_workspace_settings(self, settings: Any) -> None:
        """Apply the workspace's ``safecoder`` settings (None: it has none)."""
        self._workspace_settings = settings
        self.apply_config(self.load())

    def load(self) -> LoadResult:
        return load_config(
            user_file=self._user_file,
            env=self._env,
            init_options=self._init_options,
            workspace_settings=self._workspace_settings,
        )

    def apply_config(self, result: LoadResult) -> None:
        old, new = self.config, result.config
        engine_changed = engine_config_changed(old, new)
        plugins_reset = (
            engine_changed
            or self.pinned != result.pinned
            or old.network.plugin_endpoints != new.network.plugin_endpoints
        )
        self.config = new
        self.pinned = dict(result.pinned)
        # The plugins' services were built, their refusals decided, under the old one.
        self.plugins.configure(new, self.pinned, reset=plugins_reset)
        if self.service is None or engine_changed:
            if self.service is not None:
                self.service.worker.close(timeout=0)
                if self.service.attributor is not None:
                    self.service.attributor.close()
            self.start_service(new)
        else:
            self.service.set_template_override(template_override(new))
            self._sync_workspace(new)
            for service in self.services():  # the plugin's keeps its FIM template
                service.update_settings(completion_settings(new))
                if service.repo is not None:
                    service.repo.settings = context_settings(new)
                    service.repo.workspace = self.workspace_files
        problem = self.attach_attribution()
        if problem:
            self.tell(problem, t.MessageType.Warning)
        self.report_problems(result.problems)

    # -- completion services -------------------------------------------------------
    def start_service(self, config: Config) -> None:
        self._loop = asyncio.get_running_loop()
        self._sync_workspace(config)
        self.service = self._new_service(config)
        self.service.worker.start()

    def _new_service(self, config: Config, token: str | None = None) -> CompletionService:
        service = build_service(config, self.notify_from_engine, token=token)
        service.repo = RepoContext(
            context_settings(config), self.open_documents, self.workspace_files
        )
        return service

    def _sync_workspace(self, config: Config) -> None:
        """Read the workspace files for repository context (in the background), when
        the configuration asks for them; again when context.max_files changes."""
        c = config.context
        want = c.enabled and c.max_files > 0 and bool(self._roots)
        current = self.workspace_files
        if current is not None and (not want or current.max_files != c.max_files):
            current.stop()
            self.workspace_files = None
        if want and self.workspace_files is None:
            self.workspace_files = WorkspaceFiles(self._roots, c.max_files)
            self.workspace_files.start()

    def _plugin_service(self, config: Config, token: str | None) -> CompletionService:
        """A started service for a plugin's endpoint; it shares the main service's
        attribution index."""
        service = self._new_service(config, token)
        service.attributor = self.service.attributor if self.service is not None else None
        service.worker.start()
        return service

    def services(self) -> list[CompletionService]:
        out = [self.service] if self.service is not None else []
        return out + self.plugins.services()

    def close_services(self, timeout: float) -> None:
        if self.workspace_files is not None:
            self.workspace_files.stop()
        for service in self.services():
            service.worker.close(timeout=timeout)

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
            self.plugins.share_attributor(self.service.attributor)  # they share the index
        return None

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

    # -- suggestions accepted or rejected -------------------------------------------
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

    def mark(self, request_id: str, outcome: str) -> RequestRecord | None:
        """Record the outcome of a suggestion with whichever service made it."""
        for service in self.services():
            record = service.mark(request_id, outcome)
            if record is not None:
                return record
        return None

    # -- documents -------------------------------------------------------------------
    @property
    def encoding(self) -> Encoding:
        enc = self.workspace.position_encoding
        value = enc.value if isinstance(enc, t.PositionEncodingKind) else str(enc or "utf-16")
        return _ENCODINGS.get(value, "utf-16")

    def locate(self, uri: str, line: int, character: int) -> tuple[Document, int]:
        try:
            doc = self.documents.get(uri)
            return doc, doc.offset_at(line, character, self.encoding)
        except DocumentError as exc:
            raise JsonRpcInvalidParams(str(exc)) from exc

    def edited(self, uri: str, line: int | None = None) -> None:
        """``uri`` was opened (``line`` None) or edited at ``line``."""
        last = self._recent.pop(uri, None)
        self._recent[uri] = line if line is not None else last
        while len(self._recent) > RECENT_URIS:
            self._recent.popitem(last=False)

    def close_document(self, uri: str) -> None:
        """The editor closed ``uri``: forget it, its references and its anchors."""
        self.documents.close(uri)
        self._reference_diagnostics.pop(uri, None)
        for service in self.services():
            service.forget_document(uri)

    def open_documents(self) -> list[OpenDocument]:
        """The open documents, most recently edited first, for repository context."""
        out: list[OpenDocument] = []
        for uri in reversed(self._recent):
            if uri in self.documents:
                doc = self.documents.get(uri)
                out.append(OpenDocument(uri, doc.language_id, doc.text, self._recent[uri]))
        return out
