"""workspace/executeCommand handlers.

- ``safecoder.acceptCompletion``: run by the editor when a suggestion is accepted; its
  arguments are ``[request_id]`` or, when the suggestion matches indexed code,
  ``[request_id, {"references": [...]}]``.
- ``safecoder.stats``: the engine's state and the counters of the completion service.
- ``safecoder.showReferenceLog``: the latest reference log entries (``{"limit": N}``).
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types as t
from pygls.exceptions import JsonRpcInvalidParams

from safecoder_lsp import references
from safecoder_lsp.lsp.server import SafecoderServer

ACCEPT_COMMAND = "safecoder.acceptCompletion"
STATS_COMMAND = "safecoder.stats"
SHOW_REFERENCE_LOG_COMMAND = "safecoder.showReferenceLog"


def register(server: SafecoderServer) -> None:
    @server.command(ACCEPT_COMMAND)
    def accept(ls: SafecoderServer, *args: Any) -> None:
        rid = first_argument(args)
        if isinstance(rid, str):
            ls.accepted(rid)

    @server.command(SHOW_REFERENCE_LOG_COMMAND)
    def show_reference_log(ls: SafecoderServer, *args: Any) -> list[dict[str, Any]]:
        return references.read_log(limit=log_limit(first_argument(args)))

    @server.command(STATS_COMMAND)
    def stats_command(ls: SafecoderServer, *args: Any) -> dict[str, Any]:
        return stats(ls)


def accept_command_for(request_id: str, refs: list[dict[str, Any]]) -> t.Command:
    """The command an editor runs once the suggestion is accepted; it carries the
    suggestion's references for clients that show them."""
    arguments: list[Any] = [request_id, {"references": refs}] if refs else [request_id]
    return t.Command(title="Accept", command=ACCEPT_COMMAND, arguments=arguments)


def stats(ls: SafecoderServer) -> dict[str, Any]:
    """The answer of safecoder.stats."""
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
        "plugin_endpoint": ls.plugins.latest_url(),
        **service.stats,
        **worker.counters(),
        "warm_started": service.warmer.started,
        "last_engine": dict(service.last_engine),
        "cache_entries": len(service.cache),
        "documents": len(ls.documents),
        # Repository context: workspace files read so far, snippet choices made.
        "context_files": len(ls.workspace_files.files()) if ls.workspace_files else 0,
        "context_refreshes": service.repo.refreshes if service.repo is not None else 0,
    }


def first_argument(args: tuple[Any, ...]) -> Any:
    """A command's first argument; some clients wrap all arguments in one list."""
    first = args[0] if args else None
    if isinstance(first, list | tuple):
        first = first[0] if first else None
    return first


def log_limit(arg: Any) -> int:
    """The ``limit`` of ``{"limit": N}`` (the default without one)."""
    if arg is None:
        return references.DEFAULT_LOG_LIMIT
    limit = arg.get("limit", references.DEFAULT_LOG_LIMIT) if isinstance(arg, dict) else arg
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise JsonRpcInvalidParams(
            f'{SHOW_REFERENCE_LOG_COMMAND}: expected {{"limit": N}} with N >= 0, got {arg!r}'
        )
    return limit
