"""Bad input never crashes the server or hangs the editor; the user is told how to fix it,
and the next valid request succeeds."""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio
from lsp_session import (
    ADD_PREFIX,
    ADD_SUFFIX,
    caps,
    end_of,
    inline,
    open_doc,
    send_raw_request,
    session,
    stats,
    wait_for_message,
)
from lsprotocol import types as t
from pygls.exceptions import JsonRpcInvalidParams

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]


async def works(client, uri: str = "file:///w/ok.py") -> None:
    open_doc(client, uri, ADD_PREFIX + ADD_SUFFIX)
    line, ch = end_of(ADD_PREFIX)
    items = await inline(client, uri, line, ch)
    assert items and "a + b" in items[0].insert_text


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(clean_env):
    async with session(clean_env, caps("vscode")) as c:
        yield c


async def test_position_beyond_the_end_of_the_document(client):
    uri = "file:///w/short.py"
    open_doc(client, uri, "x = 1\n")
    with pytest.raises(JsonRpcInvalidParams, match="line 7 is beyond the end of the document"):
        await inline(client, uri, 7, 0)
    with pytest.raises(JsonRpcInvalidParams, match="beyond the end of line 0"):
        await inline(client, uri, 0, 99)
    await works(client)


async def test_unknown_document(client):
    with pytest.raises(JsonRpcInvalidParams, match="not open on the server"):
        await inline(client, "file:///w/never-opened.py", 0, 0)
    await works(client)


async def test_malformed_request_gets_an_error_instead_of_silence(client):
    fut = send_raw_request(
        client,
        t.TEXT_DOCUMENT_INLINE_COMPLETION,
        {"textDocument": {"uri": "file:///w/ok.py"}, "position": {"line": "zero"}},
        "malformed-1",
    )
    with pytest.raises(
        JsonRpcInvalidParams, match="invalid params for textDocument/inlineCompletion"
    ):
        await asyncio.wait_for(fut, 10)
    await works(client)


async def test_ten_megabyte_document(client):
    uri = "file:///w/huge.py"
    # Module-level constants: a filler that does not suggest how add() ends (2,000
    # one-line functions `return value * k` made the 0.5B model answer `value * 43`
    # from a short cold window).
    block = "".join(f"LIMIT_{i} = {i % 97}\n" for i in range(2000))
    text = block * (10_000_000 // len(block) + 1)
    assert len(text) >= 10_000_000
    text += ADD_PREFIX
    open_doc(client, uri, text + ADD_SUFFIX)
    line, ch = end_of(text)
    items = await asyncio.wait_for(inline(client, uri, line, ch), 60)
    assert items and "a + b" in items[0].insert_text
    await works(client)


async def test_binary_content(client):
    uri = "file:///w/blob.bin"
    open_doc(client, uri, "\x00\x01\x02ELF\x00" * 100 + "\nx = ", language="plaintext")
    items = await inline(client, uri, 1, 4)
    assert items == []
    await wait_for_message(client, "looks binary")
    await works(client)


async def test_bad_incremental_change_is_reported_and_server_recovers(client):
    uri = "file:///w/sync.py"
    open_doc(client, uri, "a = 1\n")
    client.text_document_did_change(
        t.DidChangeTextDocumentParams(
            text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[
                t.TextDocumentContentChangePartial(
                    range=t.Range(start=t.Position(40, 0), end=t.Position(40, 1)), text="zzz"
                )
            ],
        )
    )
    await wait_for_message(client, "Close and reopen the file")
    open_doc(client, uri, ADD_PREFIX + ADD_SUFFIX, version=3)
    line, ch = end_of(ADD_PREFIX)
    items = await inline(client, uri, line, ch)
    assert items and "a + b" in items[0].insert_text


async def test_missing_model_then_fixed_by_configuration(clean_env, model_path, tmp_path):
    missing = tmp_path / "nowhere" / "model.gguf"
    async with session(
        clean_env, caps("vscode"), init_options={"model": {"path": str(missing)}}
    ) as c:
        uri = "file:///w/m.py"
        open_doc(c, uri, ADD_PREFIX + ADD_SUFFIX)
        line, ch = end_of(ADD_PREFIX)
        assert await inline(c, uri, line, ch) == []
        msg = await wait_for_message(c, "does not exist")
        assert str(missing) in msg and "model pull" in msg
        assert (await stats(c))["engine_state"] == "failed"
        # The user fixes the setting: the server reloads and completes.
        c.workspace_did_change_configuration(
            t.DidChangeConfigurationParams(
                settings={"safecoder": {"model": {"path": str(model_path)}}}
            )
        )
        for _ in range(100):
            if (await stats(c))["engine_state"] == "ready":
                break
            await asyncio.sleep(0.1)
        await works(c)


async def test_truncated_model(clean_env, truncated_model):
    async with session(
        clean_env, caps("vscode"), init_options={"model.path": str(truncated_model)}
    ) as c:
        msg = await wait_for_message(c, "truncated")
        assert "model pull" in msg
        uri = "file:///w/t.py"
        open_doc(c, uri, ADD_PREFIX)
        line, ch = end_of(ADD_PREFIX)
        assert await inline(c, uri, line, ch) == []
        assert (await stats(c))["engine_state"] == "failed"


async def test_unknown_key_and_wrong_type_are_reported_and_defaults_used(clean_env):
    async with session(
        clean_env,
        caps("vscode"),
        init_options={"completion": {"max_tokens": "lots", "bogus_key": 1}},
    ) as c:
        await wait_for_message(c, "completion.bogus_key")
        msg = await wait_for_message(c, "completion.max_tokens")
        assert "lots" in msg
        await works(c)


async def test_broken_user_config_file(clean_env, tmp_path):
    bad = tmp_path / "config.toml"
    bad.write_text("[completion\nmax_tokens = 3\n")
    async with session(clean_env, caps("vscode"), extra_env={"SAFECODER_CONFIG": str(bad)}) as c:
        await wait_for_message(c, str(bad))
        await works(c)


async def test_bad_env_value(clean_env):
    async with session(
        clean_env, caps("vscode"), extra_env={"SAFECODER_ENGINE_N_CTX": "huge"}
    ) as c:
        msg = await wait_for_message(c, "engine.n_ctx")
        assert "SAFECODER_ENGINE_N_CTX" in msg
        await works(c)
