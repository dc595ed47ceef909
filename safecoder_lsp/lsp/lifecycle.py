"""Lifecycle handlers: initialize (the client's initializationOptions join the
configuration; the engine starts), initialized (problems found so far are shown, the
workspace settings pulled, $/progress while the model loads) and shutdown."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from lsprotocol import types as t

from safecoder_lsp.lsp.configuration import pull_configuration
from safecoder_lsp.lsp.server import SafecoderServer

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_S = 2  # each engine worker's, to stop


def register(server: SafecoderServer) -> None:
    @server.feature(t.INITIALIZE)
    def initialize(ls: SafecoderServer, params: t.InitializeParams) -> None:
        ls.set_roots(workspace_roots(params))
        ls.initialize_with(params.initialization_options)

    @server.feature(t.INITIALIZED)
    async def initialized(ls: SafecoderServer, params: t.InitializedParams) -> None:
        ls.report_startup_problems()
        caps = ls.client_capabilities
        if caps.workspace is not None and caps.workspace.configuration:
            await pull_configuration(ls)
        await report_model_load(ls)

    @server.feature(t.SHUTDOWN)
    def shutdown(ls: SafecoderServer, params: Any) -> None:
        ls.close_services(timeout=SHUTDOWN_TIMEOUT_S)


def workspace_roots(params: t.InitializeParams) -> list[Path]:
    """The local folders of the workspace: its workspaceFolders, else rootUri/rootPath."""
    uris = [f.uri for f in params.workspace_folders or []]
    if not uris and params.root_uri:
        uris = [params.root_uri]
    roots = [Path(unquote(urlparse(u).path)) for u in uris if u.startswith("file://")]
    if not roots and params.root_path:
        roots = [Path(params.root_path)]
    return roots


async def report_model_load(ls: SafecoderServer) -> None:
    """Wait for the engine: $/progress meanwhile where the client takes it; the user
    is told when it failed."""
    service = ls.service
    if service is None:
        return
    worker = service.worker
    token = await _begin_progress(ls)
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


async def _begin_progress(ls: SafecoderServer) -> str | None:
    """The token of the progress begun, or None when the client takes none."""
    caps = ls.client_capabilities.window
    if caps is None or not caps.work_done_progress:
        return None
    token = f"safecoder-load-{uuid.uuid4().hex[:8]}"
    try:
        await asyncio.wait_for(ls.work_done_progress.create_async(token), timeout=5)
        ls.work_done_progress.begin(
            token, t.WorkDoneProgressBegin(title="safecoder: loading model", cancellable=False)
        )
    except Exception as exc:
        log.warning("could not create progress: %s", exc)
        return None
    return token
