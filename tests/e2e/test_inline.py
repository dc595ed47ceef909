"""Inline completions through the real server, real engine and real default model."""

from __future__ import annotations

import asyncio
import time

import pytest
import pytest_asyncio
from lsp_session import (
    ADD_PREFIX,
    ADD_SUFFIX,
    caps,
    end_of,
    engine_ready,
    inline,
    inline_params,
    open_doc,
    session,
    stats,
)
from lsprotocol import types as t
from pygls.exceptions import JsonRpcRequestCancelled

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def vscode(clean_env):
    async with session(clean_env, caps("vscode")) as client:
        yield client


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def neovim(clean_env):
    async with session(clean_env, caps("neovim")) as client:
        yield client


async def test_capabilities_and_model_load_progress(vscode):
    # The server advertised inline completion and reported the model load with
    # $/progress: begin, then end once the model is loaded (poll: it loads in the
    # background while the session starts).
    assert vscode.init_result.capabilities.inline_completion_provider

    def kinds() -> list[type]:
        return [type(v) for values in vscode.progress_reports.values() for v in values]

    deadline = time.monotonic() + 60
    while t.WorkDoneProgressEnd not in kinds() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert kinds()[0] is t.WorkDoneProgressBegin
    assert t.WorkDoneProgressEnd in kinds()
    s = await stats(vscode)
    assert s["engine_state"] == "ready"


async def test_add_completes_with_a_plus_b(vscode):
    uri = "file:///w/add.py"
    open_doc(vscode, uri, ADD_PREFIX + ADD_SUFFIX)
    line, ch = end_of(ADD_PREFIX)
    items = await inline(vscode, uri, line, ch)
    assert len(items) == 1
    item = items[0]
    assert "a + b" in item.insert_text
    assert "print(add" not in item.insert_text  # the suffix is not repeated
    assert item.range == t.Range(start=t.Position(line, ch), end=t.Position(line, ch))
    assert item.command is not None and item.command.command == "safecoder.acceptCompletion"
    request_id = item.command.arguments[0]
    assert isinstance(request_id, str) and len(request_id) >= 16


async def test_middle_of_file_does_not_repeat_the_suffix(vscode):
    uri = "file:///w/middle.py"
    prefix = (
        "class Stack:\n    def __init__(self):\n        self.items = []\n\n"
        "    def push(self, item):\n        "
    )
    suffix = (
        "\n\n    def pop(self):\n        return self.items.pop()\n\n"
        "    def is_empty(self):\n        return not self.items\n"
    )
    open_doc(vscode, uri, prefix + suffix)
    line, ch = end_of(prefix)
    items = await inline(vscode, uri, line, ch)
    assert items, "expected a suggestion for push()"
    text = items[0].insert_text
    assert "self.items.append(item)" in text
    assert "def pop" not in text and "def is_empty" not in text


async def test_utf16_positions_after_emoji_and_cjk(vscode):
    uri = "file:///w/emoji.py"
    head = 'greeting = "你好 😀"\nname = "世界"\nmessage = greeting + " " + '
    open_doc(vscode, uri, head + "\n")
    line = 2
    ch16 = len(head.split("\n")[2].encode("utf-16-le")) // 2
    items = await inline(vscode, uri, line, ch16)
    assert items and "name" in items[0].insert_text
    assert items[0].range.start == t.Position(line, ch16)
    # A line with an astral character before the cursor: utf-16 units != code points.
    uri2 = "file:///w/emoji2.py"
    text2 = 'label = "😀😀"; total = '
    open_doc(vscode, uri2, text2)
    ch = len(text2.encode("utf-16-le")) // 2
    assert ch == len(text2) + 2
    items = await inline(vscode, uri2, 0, ch, invoked=True)
    assert all(i.range.start.character == ch for i in items)
    # The same character count in code points is *not* the end of the line in utf-16:
    # inside the line, still valid; beyond the end is refused.
    with pytest.raises(Exception, match="beyond the end of line 0"):
        await inline(vscode, uri2, 0, ch + 1)


async def test_utf8_client_gets_utf8_positions(neovim):
    assert neovim.init_result.capabilities.position_encoding == t.PositionEncodingKind.Utf8
    uri = "file:///w/utf8.py"
    head = 'city = "Zürich 🏔"\ncountry = "Schweiz"\nplace = city + ", " + '
    open_doc(neovim, uri, head + "\n")
    last = head.split("\n")[2]
    ch8 = len(last.encode("utf-8"))
    items = await inline(neovim, uri, 2, ch8)
    assert items and "country" in items[0].insert_text
    assert items[0].range.start == t.Position(2, ch8)


async def test_vscode_gets_utf16(vscode):
    assert vscode.init_result.capabilities.position_encoding == t.PositionEncodingKind.Utf16
    assert vscode.init_result.capabilities.inline_completion_provider is not None


async def test_incremental_edits_then_request(vscode):
    uri = "file:///w/incr.py"
    base = "def mul(a, b):\n    \n"
    open_doc(vscode, uri, base)
    version = 1
    col = 4
    for ch in "return ":
        version += 1
        vscode.text_document_did_change(
            t.DidChangeTextDocumentParams(
                text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[
                    t.TextDocumentContentChangePartial(
                        range=t.Range(start=t.Position(1, col), end=t.Position(1, col)), text=ch
                    )
                ],
            )
        )
        col += 1
    items = await inline(vscode, uri, 1, col)
    assert items and "a * b" in items[0].insert_text


async def test_full_sync_change_replaces_the_text(vscode):
    uri = "file:///w/full.py"
    open_doc(vscode, uri, "x = 1\n")
    vscode.text_document_did_change(
        t.DidChangeTextDocumentParams(
            text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[
                t.TextDocumentContentChangeWholeDocument(text=ADD_PREFIX + ADD_SUFFIX)
            ],
        )
    )
    line, ch = end_of(ADD_PREFIX)
    items = await inline(vscode, uri, line, ch)
    assert items and "a + b" in items[0].insert_text


async def test_cache_and_typed_ahead(vscode):
    uri = "file:///w/typed.py"
    prefix = "def is_even(n):\n    return "
    open_doc(vscode, uri, prefix + "\n")
    line, ch = end_of(prefix)
    first = await inline(vscode, uri, line, ch)
    assert first, "expected a suggestion"
    suggestion = first[0].insert_text
    assert len(suggestion) >= 2
    before = await stats(vscode)
    again = await inline(vscode, uri, line, ch)
    assert again[0].insert_text == suggestion
    # The user types the first character of the suggestion: the rest is served
    # without the engine.
    vscode.text_document_did_change(
        t.DidChangeTextDocumentParams(
            text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[
                t.TextDocumentContentChangePartial(
                    range=t.Range(start=t.Position(line, ch), end=t.Position(line, ch)),
                    text=suggestion[0],
                )
            ],
        )
    )
    rest = await inline(vscode, uri, line, ch + 1)
    assert rest and rest[0].insert_text == suggestion[1:]
    after = await stats(vscode)
    assert after["cache"] == before["cache"] + 1
    assert after["typed_ahead"] == before["typed_ahead"] + 1
    assert after["completed_jobs"] == before["completed_jobs"]


async def test_cancel_request_returns_promptly_and_stops_the_engine(vscode):
    uri = "file:///w/cancel.py"
    body = "".join(f"def helper_{i}(x):\n    return x + {i}\n\n" for i in range(40))
    text = body + "def main():\n    "
    open_doc(vscode, uri, text + "\n")
    line, ch = end_of(text)
    before = await engine_ready(vscode)  # a job cancelled while the model loads never runs
    # send_request_async is a coroutine: start it now so the request goes out first.
    fut = asyncio.ensure_future(
        vscode.protocol.send_request_async(
            t.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(uri, line, ch), msg_id="cancel-me"
        )
    )
    await asyncio.sleep(0.3)
    started = time.monotonic()
    vscode.protocol.notify(t.CANCEL_REQUEST, t.CancelParams(id="cancel-me"))
    with pytest.raises(JsonRpcRequestCancelled):
        await asyncio.wait_for(fut, 10)
    assert time.monotonic() - started < 2.0
    # The engine stops at its next check, between prompt chunks of 128 tokens (about
    # 0.6 s each on 2 cores): wait for the job to end, then it must end cancelled.
    after = await stats(vscode)
    for _ in range(100):
        if after["cancelled_jobs"] + after["completed_jobs"] > (
            before["cancelled_jobs"] + before["completed_jobs"]
        ):
            break
        await asyncio.sleep(0.05)
        after = await stats(vscode)
    assert after["cancelled_jobs"] == before["cancelled_jobs"] + 1
    assert after["completed_jobs"] == before["completed_jobs"]


async def test_ten_rapid_requests_only_the_newest_is_generated(vscode):
    uri = "file:///w/rapid.py"
    text = "def fib(n):\n    "
    open_doc(vscode, uri, text + "\n")
    before = await engine_ready(vscode)
    line = 1
    futures = [
        vscode.text_document_inline_completion_async(inline_params(uri, line, 4)) for _ in range(10)
    ]
    results = await asyncio.gather(*futures)
    texts = [r.items[0].insert_text if r.items else "" for r in results]
    assert texts[-1], "the newest request must get a suggestion"
    assert all(x == "" for x in texts[:-1])
    after = await stats(vscode)
    assert after["completed_jobs"] - before["completed_jobs"] == 1
    # A stale request ends as a cancelled or dropped engine job, or (held back by the
    # adaptive debounce while requests come faster than the engine answers) before any
    # engine call.
    stale = (
        (after["cancelled_jobs"] - before["cancelled_jobs"])
        + (after["dropped_jobs"] - before["dropped_jobs"])
        + (after["debounced"] - before["debounced"])
    )
    assert stale == 9


async def test_accept_command_records_the_request(vscode):
    uri = "file:///w/accept.py"
    open_doc(vscode, uri, ADD_PREFIX + ADD_SUFFIX)
    line, ch = end_of(ADD_PREFIX)
    items = await inline(vscode, uri, line, ch)
    rid = items[0].command.arguments[0]
    result = await vscode.workspace_execute_command_async(
        t.ExecuteCommandParams(command="safecoder.acceptCompletion", arguments=[rid])
    )
    assert result is None


async def test_completion_fallback_for_clients_without_inline_completion(clean_env):
    plain = caps("plain")
    async with session(clean_env, plain) as client:
        uri = "file:///w/fallback.py"
        text = "def add(a, b):\n    return a"
        open_doc(client, uri, text + ADD_SUFFIX)
        line, ch = end_of(text)
        result = await client.text_document_completion_async(
            t.CompletionParams(
                text_document=t.TextDocumentIdentifier(uri=uri),
                position=t.Position(line, ch),
                context=t.CompletionContext(trigger_kind=t.CompletionTriggerKind.Invoked),
            )
        )
        assert isinstance(result, t.CompletionList) and result.items
        item = result.items[0]
        # The edit starts at the word being typed so the client's filter keeps it.
        assert item.text_edit.range.start == t.Position(line, ch - 1)
        assert item.text_edit.new_text.startswith("a")
        assert "b" in item.text_edit.new_text
        assert item.filter_text == item.text_edit.new_text
