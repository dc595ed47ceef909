"""Helpers to drive the real server over stdio with pytest-lsp's client."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Any

from lsprotocol import types as t
from pytest_lsp import client_capabilities
from pytest_lsp.client import make_test_lsp_client

SERVER = [sys.executable, "-m", "safecoder_lsp", "serve", "--stdio"]

ADD_PREFIX = "def add(a, b):\n    return "
ADD_SUFFIX = "\n\n\nprint(add(1, 2))\n"


def caps(name: str) -> t.ClientCapabilities:
    """Real client capabilities: 'vscode', 'neovim' (utf-8 first), or 'plain'."""
    if name == "vscode":
        c = client_capabilities("visual-studio-code")
        c.text_document.inline_completion = t.InlineCompletionClientCapabilities()
        return c
    if name == "neovim":
        return client_capabilities("neovim@v0.11.0")
    return t.ClientCapabilities()


@contextlib.asynccontextmanager
async def session(
    env: dict[str, str],
    capabilities: t.ClientCapabilities,
    init_options: Any = None,
    configuration: dict[str, Any] | None = None,
    extra_env: dict[str, str] | None = None,
    root_uri: str | None = None,
):
    client = make_test_lsp_client()
    if configuration is not None:
        client.set_configuration(configuration, section="safecoder")
    await client.start_io(*SERVER, env={**env, **(extra_env or {})})
    try:
        client.init_result = await client.initialize_session(
            t.InitializeParams(
                capabilities=capabilities,
                initialization_options=init_options,
                root_uri=root_uri,
                workspace_folders=[t.WorkspaceFolder(uri=root_uri, name="root")]
                if root_uri
                else None,
            )
        )
        yield client
    finally:
        with contextlib.suppress(Exception):
            await client.shutdown_session()
        await client.stop()


def open_doc(client, uri: str, text: str, language: str = "python", version: int = 1) -> None:
    client.text_document_did_open(
        t.DidOpenTextDocumentParams(
            text_document=t.TextDocumentItem(
                uri=uri, language_id=language, version=version, text=text
            )
        )
    )


def insert_text(client, uri: str, version: int, line: int, character: int, text: str) -> None:
    """An incremental edit that inserts ``text`` at (line, character): what an editor
    sends when the user types, or accepts a suggestion, there."""
    at = t.Position(line=line, character=character)
    client.text_document_did_change(
        t.DidChangeTextDocumentParams(
            text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                t.TextDocumentContentChangePartial(range=t.Range(start=at, end=at), text=text)
            ],
        )
    )


def inline_params(uri: str, line: int, character: int, invoked: bool = False):
    return t.InlineCompletionParams(
        text_document=t.TextDocumentIdentifier(uri=uri),
        position=t.Position(line=line, character=character),
        context=t.InlineCompletionContext(
            trigger_kind=t.InlineCompletionTriggerKind.Invoked
            if invoked
            else t.InlineCompletionTriggerKind.Automatic
        ),
    )


async def inline(client, uri: str, line: int, character: int, invoked: bool = False) -> list:
    result = await client.text_document_inline_completion_async(
        inline_params(uri, line, character, invoked)
    )
    if result is None:
        return []
    return list(result.items if isinstance(result, t.InlineCompletionList) else result)


async def stats(client) -> dict:
    return await client.workspace_execute_command_async(
        t.ExecuteCommandParams(command="safecoder.stats", arguments=[])
    )


async def engine_ready(client, timeout: float = 60.0) -> dict:
    """The server's stats once its engine has loaded (the model loads in the background
    after initialize: a request sent before then waits in the queue, it is not run)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        s = await stats(client)
        if s["engine_state"] != "loading" or asyncio.get_running_loop().time() > deadline:
            assert s["engine_state"] == "ready", s
            return s
        await asyncio.sleep(0.05)


def messages(client) -> list[str]:
    """The window/showMessage texts the client received so far."""
    return [m.message for m in client.messages]


async def wait_for_message(client, needle: str, timeout: float = 20) -> str:
    """The first shown message containing ``needle`` (polls: messages arrive async)."""
    import asyncio

    for _ in range(int(timeout / 0.1)):
        for m in messages(client):
            if needle in m:
                return m
        await asyncio.sleep(0.1)
    raise AssertionError(f"no message containing {needle!r}; got {messages(client)}")


def end_of(text: str) -> tuple[int, int]:
    """(line, utf-32 character) at the end of text."""
    lines = text.split("\n")
    return len(lines) - 1, len(lines[-1])


def send_raw_request(client, method: str, params: Any, msg_id: str):
    """Send a request exactly as given (no type checks) and return a future for the reply."""
    import asyncio
    from concurrent.futures import Future

    future: Future = Future()
    client.protocol._request_futures[msg_id] = future
    client.protocol._send_data({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})

    async def result():
        return plain(await asyncio.wrap_future(future))

    return result()


def plain(value: Any) -> Any:
    """pygls hands untyped results back as namedtuples: turn them into JSON-like values."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
