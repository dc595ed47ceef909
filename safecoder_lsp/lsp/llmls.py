"""llm-ls handlers for the Hugging Face plugins (llm-vscode, llm.nvim,
llm-intellij): llm-ls/getCompletions, llm-ls/acceptCompletion, llm-ls/rejectCompletion.

Their params arrive as plain dicts (``safecoder_lsp.lsp.protocol``) and are read by
``safecoder_lsp.llmls`` (the wire format); an endpoint a plugin names is served by
``SafecoderServer.plugins`` when ``safecoder_lsp.plugin_backend`` allows it.
"""

from __future__ import annotations

import uuid
from typing import Any

from lsprotocol import types as t
from pygls.exceptions import JsonRpcInvalidParams

from safecoder_lsp import llmls, plugin_backend, references
from safecoder_lsp.lsp.server import SafecoderServer


def register(server: SafecoderServer) -> None:
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
            service = await ls.plugins.service_for(plugin)
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
        ls.accepted(_request_id(params))

    @server.feature("llm-ls/rejectCompletion")
    def llmls_reject(ls: SafecoderServer, params: Any) -> None:
        ls.mark(_request_id(params), "rejected")


def _request_id(params: Any) -> str:
    try:
        return llmls.request_id_of(params)
    except llmls.LlmLsParamsError as exc:
        raise JsonRpcInvalidParams(str(exc)) from exc
