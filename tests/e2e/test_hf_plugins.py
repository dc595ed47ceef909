"""The Hugging Face plugins, message for message: what llm-vscode 0.2.2 and llm.nvim
send to their language server (llm-ls) and what they read back, against the real
server on the real default model.

test_llmls_and_config.py covers the llm-ls wire format itself (result shape, accept and
reject counted, bad params, the "backend/url not used" notice). Here:

- the exact payloads of each plugin at its default settings, including the keys that
  file leaves out (``tokenizerConfig``, ``tlsSkipVerifyInsecure``,
  ``disableUrlPathCompletion``, ``url: null``, no ``apiToken`` when logged out) and the
  ``completions`` echoed back in ``llm-ls/acceptCompletion``;
- positions after non-ASCII text, counted as each plugin counts them;
- llm.nvim's cancellation of a superseded request;
- how each plugin starts the server (command line and environment).

Sources (read, not copied):

- llm-vscode 0.2.2 (github.com/huggingface/llm-vscode @ 0661296): src/extension.ts,
  ``provideInlineCompletionItems`` builds the getCompletions params, ``llm.afterInsert``
  sends acceptCompletion; package.json holds the setting defaults; the server is started
  with ``{command, transport: TransportKind.stdio, options: {env: {RUST_BACKTRACE,
  LLM_LOG_LEVEL}}}`` by vscode-languageclient ^9.0.1, whose node client appends
  ``--stdio`` to an Executable's args for that transport and passes ``options`` to
  ``child_process.spawn`` unchanged (so ``env`` replaces the whole environment).
  llm-vscode never sends rejectCompletion.
- llm.nvim (github.com/huggingface/llm.nvim @ ce69731): lua/llm/language_server.lua
  (``get_completions``, ``accept_completion``, ``reject_completion``, ``setup``: ``cmd =
  { bin_path }``, no arguments) and lua/llm/config.lua (defaults). Lua ``nil`` fields are
  absent from the JSON. ``make_position_params()`` counts in the client's negotiated
  encoding.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsp_session import open_doc, send_raw_request, session, stats
from lsprotocol import types as t
from pygls.exceptions import JsonRpcRequestCancelled
from pytest_lsp import client_capabilities
from pytest_lsp.client import make_test_lsp_client

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

EXECUTABLE = Path(sys.executable).with_name("safecoder-lsp")

# Non-ASCII before the cursor on the cursor's line: "é" is 2 UTF-8 bytes / 1 UTF-16 unit,
# "🚀" 4 UTF-8 bytes / 2 UTF-16 units.
CURSOR_LINE = '    return "Héllo 🚀 " + na'
TEXT = "def greet(name):\n" + CURSOR_LINE + '\n\nprint(greet("Zoë"))\n'


def llm_vscode_get_completions(uri: str, character: int) -> dict[str, Any]:
    """llm-vscode 0.2.2 at its default settings, logged out (``apiToken`` undefined)."""
    return {
        "position": {"line": 1, "character": character},  # a vscode.Position: UTF-16
        "textDocument": {"uri": uri},
        "model": "bigcode/starcoder",  # llm.modelId
        "backend": "huggingface",  # llm.backend
        "url": None,  # llm.url
        "tokensToClear": ["<|endoftext|>"],
        "requestBody": {"parameters": {"max_new_tokens": 60, "temperature": 0.2, "top_p": 0.95}},
        "fim": {  # config.get("fillInTheMiddle"): the object of the four settings
            "enabled": True,
            "prefix": "<fim_prefix>",
            "middle": "<fim_middle>",
            "suffix": "<fim_suffix>",
        },
        "contextWindow": 2048,
        "tlsSkipVerifyInsecure": False,
        "ide": "vscode",
        "tokenizerConfig": None,  # llm.tokenizer
        "disableUrlPathCompletion": False,
    }


def llm_nvim_get_completions(uri: str, character: int) -> dict[str, Any]:
    """llm.nvim at its default config (api_token, url and tokenizer are nil: absent)."""
    return {
        "textDocument": {"uri": uri},  # lsp.util.make_position_params()
        "position": {"line": 1, "character": character},
        "model": "bigcode/starcoder2-15b",
        "backend": "huggingface",
        "requestBody": {"parameters": {"max_new_tokens": 60, "temperature": 0.2, "top_p": 0.95}},
        "tokensToClear": ["<|endoftext|>"],
        "fim": {
            "enabled": True,
            "prefix": "<fim_prefix>",
            "middle": "<fim_middle>",
            "suffix": "<fim_suffix>",
        },
        "contextWindow": 1024,
        "tlsSkipVerifyInsecure": False,
        "ide": "neovim",
        "disableUrlPathCompletion": False,
    }


def accept_params(response: dict[str, Any]) -> dict[str, Any]:
    """Both plugins: the getCompletions response handed back on accept."""
    return {
        "requestId": response["request_id"],
        "acceptedCompletion": 0,
        "shownCompletions": [0],
        "completions": response["completions"],
    }


def assert_plugin_reads(response: dict[str, Any]) -> str:
    """What the plugins read: request_id and completions[i].generated_text."""
    assert re.fullmatch(r"[0-9a-f]{32}", response["request_id"])
    assert len(response["completions"]) == 1
    text = response["completions"][0]["generated_text"]
    assert isinstance(text, str) and "<|endoftext|>" not in text
    return text


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def vscode(clean_env):
    # vscode-languageclient 9 does not send textDocument.inlineCompletion; VS Code
    # positions are UTF-16. (Started with `serve --stdio`: see the launch test below.)
    async with session(clean_env, client_capabilities("visual-studio-code")) as c:
        yield c


@contextlib.asynccontextmanager
async def started_as(command: list[str], env: dict[str, str], capabilities: t.ClientCapabilities):
    client = make_test_lsp_client()
    await client.start_io(*command, env=env)
    try:
        # A server that exits at once must fail the test at once, not at a timeout.
        init = asyncio.ensure_future(
            client.initialize_session(t.InitializeParams(capabilities=capabilities))
        )
        exited = asyncio.ensure_future(client._server.wait())
        await asyncio.wait({init, exited}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        if not init.done():
            init.cancel()
            raise AssertionError(
                f"the server did not start (exit code {client._server.returncode})"
            )
        exited.cancel()
        client.init_result = init.result()
        yield client
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.shutdown_session(), timeout=10)
        await client.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def nvim(clean_env):
    # llm.nvim: vim.lsp.start_client({cmd = {bin_path}}) -- the bare executable, no
    # arguments, the editor's environment (cmd_env nil), Neovim's default capabilities.
    assert EXECUTABLE.exists(), f"{EXECUTABLE} is installed by make install"
    async with started_as([str(EXECUTABLE)], clean_env, client_capabilities("neovim@v0.11.0")) as c:
        yield c


async def test_llm_vscode_get_then_accept(vscode):
    uri = "file:///w/hf_vscode.py"
    open_doc(vscode, uri, TEXT)
    assert vscode.init_result.capabilities.position_encoding == "utf-16"
    end = len(CURSOR_LINE.encode("utf-16-le")) // 2
    response = await send_raw_request(
        vscode, "llm-ls/getCompletions", llm_vscode_get_completions(uri, end), "vsc-1"
    )
    assert set(response) == {"request_id", "completions"}
    # At the true end of the line (a UTF-8 or UTF-32 reading would be elsewhere or past
    # the end): the model finishes the word "na".
    assert assert_plugin_reads(response).startswith("me")

    before = await stats(vscode)
    accepted = await send_raw_request(
        vscode, "llm-ls/acceptCompletion", accept_params(response), "vsc-2"
    )
    assert accepted is None
    assert (await stats(vscode))["accepted"] == before["accepted"] + 1


async def test_llm_vscode_gets_no_duplicate_popup(vscode):
    # llm-vscode shows the getCompletions answer as ghost text itself, but
    # vscode-languageclient 9 still registers the server's completionProvider and sends
    # no inlineCompletion capability: once a client asked through llm-ls, the server's
    # textDocument/completion stays empty (else VS Code shows every suggestion twice).
    uri = "file:///w/hf_vscode_popup.py"
    open_doc(vscode, uri, TEXT)
    end = len(CURSOR_LINE.encode("utf-16-le")) // 2
    await send_raw_request(
        vscode, "llm-ls/getCompletions", llm_vscode_get_completions(uri, end), "vsc-3"
    )
    popup = await vscode.text_document_completion_async(
        t.CompletionParams(
            text_document=t.TextDocumentIdentifier(uri=uri),
            position=t.Position(line=1, character=end),
        )
    )
    assert list(popup.items) == []  # the plugin already shows it as ghost text


async def test_llm_nvim_get_accept_reject_and_cancel(nvim):
    # Bare `safecoder-lsp` serves stdio; Neovim 0.11 offers UTF-8 first.
    assert nvim.init_result.capabilities.position_encoding == "utf-8"
    uri = "file:///w/hf_nvim.py"
    open_doc(nvim, uri, TEXT)
    end = len(CURSOR_LINE.encode("utf-8"))
    response = await send_raw_request(
        nvim, "llm-ls/getCompletions", llm_nvim_get_completions(uri, end), "nvim-1"
    )
    assert set(response) == {"request_id", "completions"}
    assert assert_plugin_reads(response).startswith("me")

    before = await stats(nvim)
    # accept_completion: {requestId, acceptedCompletion = 0, shownCompletions = {0}, completions}
    assert (
        await send_raw_request(nvim, "llm-ls/acceptCompletion", accept_params(response), "nvim-2")
        is None
    )
    # reject_completion: {requestId, shownCompletions = {0}}
    rejected = await send_raw_request(
        nvim,
        "llm-ls/rejectCompletion",
        {"requestId": response["request_id"], "shownCompletions": [0]},
        "nvim-3",
    )
    assert rejected is None
    after = await stats(nvim)
    assert after["accepted"] == before["accepted"] + 1
    assert after["rejected"] == before["rejected"] + 1

    # Typing on cancels the request in flight ($/cancelRequest, llm_ls.cancel_request);
    # the server answers it (cancelled, or done if it was quicker) and serves the next.
    open_doc(nvim, "file:///w/hf_nvim_cancel.py", "def mul(a, b):\n    return ")
    pending = send_raw_request(
        nvim,
        "llm-ls/getCompletions",
        llm_nvim_get_completions("file:///w/hf_nvim_cancel.py", 11),
        "nvim-4",
    )
    nvim.protocol._send_data(
        {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": "nvim-4"}}
    )
    with contextlib.suppress(JsonRpcRequestCancelled):
        result = await asyncio.wait_for(pending, timeout=60)
        assert set(result) == {"request_id", "completions"}
    again = await send_raw_request(
        nvim, "llm-ls/getCompletions", llm_nvim_get_completions(uri, end), "nvim-5"
    )
    assert assert_plugin_reads(again).startswith("me")


async def test_llm_vscode_launch_command(clean_env, model_path):
    # Exactly llm-vscode's spawn: the binary plus the `--stdio` vscode-languageclient adds,
    # in an environment of only RUST_BACKTRACE and LLM_LOG_LEVEL; the harness adds the
    # config file and model folder it uses everywhere (no HOME/PATH, as in VS Code).
    assert EXECUTABLE.exists(), f"{EXECUTABLE} is installed by make install"
    env = {
        "RUST_BACKTRACE": "1",
        "LLM_LOG_LEVEL": "warn",
        "SAFECODER_CONFIG": clean_env["SAFECODER_CONFIG"],
        "SAFECODER_MODEL_DIR": str(model_path.parent),
    }
    async with started_as(
        [str(EXECUTABLE), "--stdio"], env, client_capabilities("visual-studio-code")
    ) as client:
        uri = "file:///w/hf_launch.py"
        open_doc(client, uri, TEXT)
        end = len(CURSOR_LINE.encode("utf-16-le")) // 2
        response = await send_raw_request(
            client, "llm-ls/getCompletions", llm_vscode_get_completions(uri, end), "launch-1"
        )
        assert assert_plugin_reads(response).startswith("me")
