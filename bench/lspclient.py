"""A minimal LSP client session for benchmarks (real server over stdio)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from lsprotocol import types as t
from pygls.lsp.client import LanguageClient

LOG = Path("bench/out/server.log")
SERVER = [sys.executable, "-m", "safecoder_lsp", "serve", "--stdio"]


class BenchClient:
    def __init__(
        self, init_options: Any = None, env: dict[str, str] | None = None, root: Path | None = None
    ) -> None:
        """``root``: the workspace folder given to the server (rootUri and
        workspaceFolders), if any."""
        self.client = LanguageClient("safecoder-bench", "0.1")
        self.init_options = init_options
        self.env = env
        self.root = root
        self.messages: list[str] = []
        self._versions: dict[str, int] = {}

        @self.client.feature(t.WINDOW_SHOW_MESSAGE)
        def _show(params: t.ShowMessageParams) -> None:
            self.messages.append(params.message)
            print(f"[server] {params.message}", file=sys.stderr)

    async def start(self) -> None:
        await self.client.start_io(*SERVER, env=self.env)
        # pygls pipes the server's stderr: read it, or the server blocks once the pipe
        # is full. The log goes to bench/out/server.log.
        self._stderr_task = asyncio.ensure_future(self._drain(self.client._server.stderr))
        root = self.root.resolve() if self.root else None
        await self.client.initialize_async(
            t.InitializeParams(
                capabilities=t.ClientCapabilities(
                    general=t.GeneralClientCapabilities(
                        position_encodings=[t.PositionEncodingKind.Utf32]
                    ),
                    text_document=t.TextDocumentClientCapabilities(
                        inline_completion=t.InlineCompletionClientCapabilities()
                    ),
                    workspace=t.WorkspaceClientCapabilities(workspace_folders=True)
                    if root
                    else None,
                ),
                root_uri=root.as_uri() if root else None,
                workspace_folders=[t.WorkspaceFolder(uri=root.as_uri(), name=root.name)]
                if root
                else None,
                initialization_options=self.init_options,
            )
        )
        self.client.initialized(t.InitializedParams())

    async def _drain(self, stream: asyncio.StreamReader | None) -> None:
        if stream is None:
            return
        LOG.parent.mkdir(parents=True, exist_ok=True)
        with open(LOG, "ab") as log:
            while chunk := await stream.read(65536):
                log.write(chunk)
                log.flush()

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()
        with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(self._stderr_task, 5)

    def open(self, uri: str, text: str, language: str = "python") -> None:
        self._versions[uri] = 1
        self.client.text_document_did_open(
            t.DidOpenTextDocumentParams(
                text_document=t.TextDocumentItem(
                    uri=uri, language_id=language, version=1, text=text
                )
            )
        )

    def close(self, uri: str) -> None:
        self.client.text_document_did_close(
            t.DidCloseTextDocumentParams(text_document=t.TextDocumentIdentifier(uri=uri))
        )

    def insert(self, uri: str, line: int, character: int, text: str) -> None:
        self._versions[uri] += 1
        pos = t.Position(line=line, character=character)
        self.client.text_document_did_change(
            t.DidChangeTextDocumentParams(
                text_document=t.VersionedTextDocumentIdentifier(
                    uri=uri, version=self._versions[uri]
                ),
                content_changes=[
                    t.TextDocumentContentChangePartial(range=t.Range(start=pos, end=pos), text=text)
                ],
            )
        )

    async def inline(self, uri: str, line: int, character: int, invoked: bool = False) -> str:
        result = await self.client.text_document_inline_completion_async(
            t.InlineCompletionParams(
                text_document=t.TextDocumentIdentifier(uri=uri),
                position=t.Position(line=line, character=character),
                context=t.InlineCompletionContext(
                    trigger_kind=t.InlineCompletionTriggerKind.Invoked
                    if invoked
                    else t.InlineCompletionTriggerKind.Automatic
                ),
            )
        )
        items = result.items if isinstance(result, t.InlineCompletionList) else (result or [])
        return items[0].insert_text if items else ""

    async def stats(self) -> dict[str, Any]:
        return await self.client.workspace_execute_command_async(
            t.ExecuteCommandParams(command="safecoder.stats", arguments=[])
        )


def lsp_options(pairs: list[str]) -> dict | None:
    """``KEY=VALUE`` pairs as dotted initializationOptions; a value that is not JSON
    is a string."""
    options = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options or None
