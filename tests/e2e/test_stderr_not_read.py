"""A client that never reads the server's stderr must not stall it.

pygls' own LanguageClient pipes the server's stderr and never reads it; once the
pipe (64 KiB) is full, a server that writes its log synchronously blocks in the
middle of a request and the editor waits forever.
"""

from __future__ import annotations

import asyncio
import sys

import pytest
from lsp_session import ADD_PREFIX, ADD_SUFFIX, end_of
from lsprotocol import types as t
from pygls.lsp.client import LanguageClient

pytestmark = [pytest.mark.model]


async def test_server_keeps_answering_when_nobody_reads_its_stderr(clean_env):
    client = LanguageClient("stderr-never-read", "0")
    await client.start_io(
        sys.executable,
        "-m",
        "safecoder_lsp",
        "serve",
        "--stdio",
        env={**clean_env, "SAFECODER_LOG_LEVEL": "debug"},
    )
    assert client._server is not None and client._server.stderr is not None  # piped, unread
    try:
        await client.initialize_async(t.InitializeParams(capabilities=t.ClientCapabilities()))
        client.initialized(t.InitializedParams())
        uri = "file:///w/noisy.py"
        client.text_document_did_open(
            t.DidOpenTextDocumentParams(
                text_document=t.TextDocumentItem(
                    uri=uri, language_id="python", version=1, text=ADD_PREFIX + ADD_SUFFIX
                )
            )
        )
        line, ch = end_of(ADD_PREFIX)
        params = t.InlineCompletionParams(
            text_document=t.TextDocumentIdentifier(uri=uri),
            position=t.Position(line=line, character=ch),
            context=t.InlineCompletionContext(trigger_kind=t.InlineCompletionTriggerKind.Invoked),
        )
        # Each answer logs a line or more (~150+ bytes): 4,000 answers (~600 KB) is far
        # more than the pipe and the client's read buffer hold. After the first, they
        # come from the result cache.
        for i in range(4000):
            result = await asyncio.wait_for(
                client.text_document_inline_completion_async(params), 30
            )
            assert result is not None and result.items, f"request {i} got no suggestion"
            assert "a + b" in result.items[0].insert_text
    finally:
        await asyncio.wait_for(client.shutdown_async(None), 10)
        client.exit(None)
        # The server exits; pygls' client only finishes once the pipe is drained.
        await asyncio.wait_for(client._server.stderr.read(), 10)
        await asyncio.wait_for(client.stop(), 10)
        assert client._server.returncode == 0
