"""The llm-ls wire format (Hugging Face plugins) and live configuration changes,
through the real server over stdio on the real default model."""

from __future__ import annotations

import re

import pytest
import pytest_asyncio
from lsp_session import (
    ADD_PREFIX,
    ADD_SUFFIX,
    caps,
    end_of,
    inline,
    messages,
    open_doc,
    send_raw_request,
    session,
    stats,
    wait_for_message,
)
from lsprotocol import types as t
from pygls.exceptions import JsonRpcInvalidParams
from test_attribution import GPL3, PREFIX

from attribution.index import Index
from attribution.sources import directory

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(clean_env):
    async with session(clean_env, caps("vscode")) as c:
        yield c


def llm_vscode_params(uri: str, line: int, character: int) -> dict:
    """What llm-vscode sends (its settings for a Hugging Face backend included)."""
    return {
        "position": {"line": line, "character": character},
        "textDocument": {"uri": uri},
        "model": "bigcode/starcoder",
        "backend": "huggingface",
        "url": "https://api-inference.huggingface.co/models/bigcode/starcoder",
        "tokensToClear": ["<|endoftext|>"],
        "apiToken": "hf_secret",
        "requestBody": {"parameters": {"max_new_tokens": 60, "temperature": 0.2}},
        "fim": {
            "enabled": True,
            "prefix": "<fim_prefix>",
            "middle": "<fim_middle>",
            "suffix": "<fim_suffix>",
        },
        "contextWindow": 1024,
        "tlsSkipVerify": False,
        "ide": "vscode",
    }


async def test_get_accept_reject_in_the_llm_ls_wire_format(client):
    uri = "file:///w/llmls.py"
    open_doc(client, uri, ADD_PREFIX + ADD_SUFFIX)
    line, ch = end_of(ADD_PREFIX)
    result = await send_raw_request(
        client, "llm-ls/getCompletions", llm_vscode_params(uri, line, ch), "llm-1"
    )
    assert set(result) == {"request_id", "completions"}
    assert re.fullmatch(r"[0-9a-f]{32}", result["request_id"])
    assert len(result["completions"]) == 1
    text = result["completions"][0]["generated_text"]
    assert "a + b" in text and "<|endoftext|>" not in text
    # The plugin's own backend/url/apiToken are not used; the user is told so.
    msg = await wait_for_message(client, "not used")
    assert "engine.kind" in msg and "hf_secret" not in msg

    before = await stats(client)
    rid = result["request_id"]
    accepted = await send_raw_request(
        client,
        "llm-ls/acceptCompletion",
        {"requestId": rid, "acceptedCompletion": 0, "shownCompletions": [0]},
        "llm-2",
    )
    assert accepted is None
    rejected = await send_raw_request(
        client, "llm-ls/rejectCompletion", {"requestId": rid, "shownCompletions": [0]}, "llm-3"
    )
    assert rejected is None
    after = await stats(client)
    assert after["accepted"] == before["accepted"] + 1
    assert after["rejected"] == before["rejected"] + 1


async def test_llm_ls_bad_params_get_an_invalid_params_error(client):
    with pytest.raises(JsonRpcInvalidParams, match="position"):
        await send_raw_request(
            client, "llm-ls/getCompletions", {"textDocument": {"uri": "file:///x.py"}}, "bad-1"
        )
    with pytest.raises(JsonRpcInvalidParams, match="requestId"):
        await send_raw_request(client, "llm-ls/acceptCompletion", {}, "bad-2")
    with pytest.raises(JsonRpcInvalidParams, match="not open"):
        await send_raw_request(
            client, "llm-ls/getCompletions", llm_vscode_params("file:///nope.py", 0, 0), "bad-3"
        )
    await test_get_accept_reject_in_the_llm_ls_wire_format(client)


async def test_did_change_configuration_applies_at_once(client):
    uri = "file:///w/config.py"
    open_doc(client, uri, ADD_PREFIX + ADD_SUFFIX)
    line, ch = end_of(ADD_PREFIX)
    client.workspace_did_change_configuration(
        t.DidChangeConfigurationParams(settings={"safecoder": {"completion": {"enabled": False}}})
    )
    assert await inline(client, uri, line, ch) == []
    client.workspace_did_change_configuration(
        t.DidChangeConfigurationParams(settings={"safecoder": {"completion": {"enabled": "yes"}}})
    )
    # A bad value is reported, naming the key, and the key falls back to the value of
    # the earlier sources (here the default, true): completions are back on.
    msg = await wait_for_message(client, "completion.enabled")
    assert "yes" in msg
    items = await inline(client, uri, line, ch)
    assert items and "a + b" in items[0].insert_text


async def test_workspace_settings_cannot_redirect_code(client):
    # engine.url is a security setting: a repository's workspace settings may not set it.
    client.workspace_did_change_configuration(
        t.DidChangeConfigurationParams(
            settings={"safecoder": {"engine": {"url": "http://evil.example/"}}}
        )
    )
    msg = await wait_for_message(client, "engine.url")
    assert "workspace" in msg
    uri = "file:///w/secure.py"
    open_doc(client, uri, ADD_PREFIX + ADD_SUFFIX)
    line, ch = end_of(ADD_PREFIX)
    items = await inline(client, uri, line, ch)
    assert items and "a + b" in items[0].insert_text
    assert (await stats(client))["engine_state"] == "ready"


async def test_workspace_settings_cannot_move_the_attribution_index(clean_env, tmp_path):
    # A repository's own settings pointing attribution.index at a missing file would
    # turn attribution.action = block into "unchecked": they are refused, pulled
    # (workspace/configuration) or pushed (didChangeConfiguration), and the index
    # from the user's configuration keeps blocking.
    env = {**clean_env, "SAFECODER_COMPLETION_TIME_BUDGET_MS": "60000"}  # same text each time
    uri = "file:///w/paths.py"
    async with session(env, caps("vscode")) as learn:
        open_doc(learn, uri, PREFIX + "\n")
        items = await inline(learn, uri, *end_of(PREFIX))
    assert items and items[0].insert_text.strip()
    project = tmp_path / "gpl-graphs"
    project.mkdir()
    (project / "COPYING").write_text(GPL3)
    (project / "graphs.py").write_text(PREFIX + items[0].insert_text + "\n    return distances\n")
    index = tmp_path / "index.sqlite"
    with Index(index) as ix:
        ix.add_source("gpl-graphs", directory(project))
    block = {"SAFECODER_ATTRIBUTION_INDEX": str(index), "SAFECODER_ATTRIBUTION_ACTION": "block"}
    pulled, pushed = tmp_path / "pulled.sqlite", tmp_path / "pushed.sqlite"
    async with session(
        env, caps("vscode"), configuration={"attribution": {"index": str(pulled)}}, extra_env=block
    ) as c:
        msg = await wait_for_message(c, "attribution.index")
        assert "not in workspace settings" in msg and "SAFECODER_ATTRIBUTION_INDEX" in msg
        c.workspace_did_change_configuration(
            t.DidChangeConfigurationParams(
                settings={"safecoder": {"attribution.index": str(pushed), "engine.n_ctx": 512}}
            )
        )
        await wait_for_message(c, "engine.n_ctx")
        open_doc(c, uri, PREFIX + "\n")
        assert await inline(c, uri, *end_of(PREFIX)) == []
        st = await stats(c)
        assert st["blocked"] == 1 and st["engine_state"] == "ready"
        assert not any("does not exist" in m for m in messages(c))
    assert not pulled.exists() and not pushed.exists()
