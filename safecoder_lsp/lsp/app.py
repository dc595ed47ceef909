"""``create_server``: the language server with every handler module registered.

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

from typing import Any

from safecoder_lsp.lsp import commands, completion, configuration, documents, lifecycle, llmls
from safecoder_lsp.lsp.server import SafecoderServer

HANDLER_MODULES = (lifecycle, configuration, documents, completion, llmls, commands)


def create_server(**kwargs: Any) -> SafecoderServer:
    server = SafecoderServer(**kwargs)
    for module in HANDLER_MODULES:
        module.register(server)
    return server
