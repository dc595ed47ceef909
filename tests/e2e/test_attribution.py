"""Attribution through the real server: a suggestion that continues indexed GPL code is
blocked under attribution.action = block and shown (with its references) under
annotate, on the inline item, in the llm-ls result and, once accepted, in the
reference log (safecoder.showReferenceLog); a bad index is reported and completions
go on."""

from __future__ import annotations

import asyncio
import json

import pytest
from lsp_session import (
    caps,
    end_of,
    inline,
    insert_text,
    open_doc,
    plain,
    send_raw_request,
    session,
    stats,
    wait_for_message,
)
from lsprotocol import types as t

from attribution.index import Index
from attribution.sources import directory

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="function")]

GPL3 = "GNU GENERAL PUBLIC LICENSE\nVersion 3, 29 June 2007\n"
PREFIX = '''import heapq


def dijkstra(graph, source):
    """Shortest distances from source in a graph {node: [(neighbour, weight), ...]}."""
    distances = {node: float("inf") for node in graph}
    distances[source] = 0
    queue = [(0, source)]
    while queue:
        dist, node = heapq.heappop(queue)
        if dist > distances[node]:
            continue
        for neighbour, weight in graph[node]:
            '''
URI = "file:///w/paths.py"
SHOW_LOG = "safecoder.showReferenceLog"


async def suggestion(env: dict[str, str], extra: dict[str, str] | None = None):
    async with session(env, caps("vscode"), extra_env=extra) as client:
        open_doc(client, URI, PREFIX + "\n")
        items = await inline(client, URI, *end_of(PREFIX))
        return items, await stats(client), client


def assert_names_the_gpl_project(ref: dict, repo: str, text: str) -> None:
    assert ref["repo"] == repo and ref["path"] == "graphs.py"
    assert ref["license"] == "GPL-3.0-only" and ref["allowed"] is False
    assert "not in the allowlist" in ref["why"]
    assert 1 <= ref["start_line"] <= ref["end_line"] and ref["length"] >= 150
    # the suggestion continues the copy: the span starts where it is inserted
    assert 0 == ref["start"] < ref["end"] <= len(text)


async def show_log(client, arguments: list | None = None) -> list[dict]:
    result = await client.workspace_execute_command_async(
        t.ExecuteCommandParams(command=SHOW_LOG, arguments=arguments)
    )
    return plain(result)


async def test_block_and_annotate(clean_env, tmp_path):
    # The same suggestion must come back in every session: no time budget cut-off on
    # a busy machine (greedy decoding is deterministic otherwise).
    clean_env = {**clean_env, "SAFECODER_COMPLETION_TIME_BUDGET_MS": "60000"}
    # 1. What the model suggests here, with no index.
    items, _, _ = await suggestion(clean_env)
    assert items and items[0].insert_text.strip()
    text = items[0].insert_text

    # 2. A GPL project holding exactly this code, suggestion included, is indexed.
    project = tmp_path / "gpl-graphs"
    project.mkdir()
    (project / "COPYING").write_text(GPL3)
    (project / "graphs.py").write_text(PREFIX + text + "\n    return distances\n")
    index = tmp_path / "index.sqlite"
    with Index(index) as ix:
        ix.add_source("gpl-graphs", directory(project))

    # 3. Blocked: the suggestion is never shown.
    block = {"SAFECODER_ATTRIBUTION_INDEX": str(index), "SAFECODER_ATTRIBUTION_ACTION": "block"}
    items, st, _ = await suggestion(clean_env, block)
    assert items == []
    assert st["blocked"] == 1

    # 4. The same license allowed: shown.
    allowed = {**block, "SAFECODER_ATTRIBUTION_ALLOWED_LICENSES": '["GPL-3.0-only"]'}
    items, st, _ = await suggestion(clean_env, allowed)
    assert items and items[0].insert_text == text and st["blocked"] == 0

    # 5. Annotate (the default action): shown; once accepted, a Warning diagnostic on
    # the inserted code names the GPL project, and the reference log records it.
    data_home = tmp_path / "data"
    annotate = {"SAFECODER_ATTRIBUTION_INDEX": str(index), "XDG_DATA_HOME": str(data_home)}
    async with session(clean_env, caps("vscode"), extra_env=annotate) as client:
        assert SHOW_LOG in client.init_result.capabilities.execute_command_provider.commands
        assert await show_log(client) == []  # no log yet
        open_doc(client, URI, PREFIX + "\n")
        line, ch = end_of(PREFIX)
        items = await inline(client, URI, line, ch)
        assert items and items[0].insert_text == text
        assert (await stats(client))["blocked"] == 0
        # the item's command carries the references for clients that show them
        rid, extra = plain(items[0].command.arguments)
        [ref] = extra["references"]
        assert_names_the_gpl_project(ref, str(project), text)
        # llm-ls clients get them on each completion
        position = {"line": line, "character": ch}
        got = await send_raw_request(
            client,
            "llm-ls/getCompletions",
            {"textDocument": {"uri": URI}, "position": position, "tokensToClear": []},
            "llm-refs",
        )
        [completion] = got["completions"]
        assert completion["generated_text"] == text
        assert completion["references"] == [ref]
        # the editor inserts the suggestion, then runs the item's command
        insert_text(client, URI, 2, line, ch, text)
        command = items[0].command
        await client.workspace_execute_command_async(
            t.ExecuteCommandParams(command=command.command, arguments=command.arguments)
        )
        for _ in range(100):
            if client.diagnostics.get(URI):
                break
            await asyncio.sleep(0.1)
        [diag] = client.diagnostics[URI]
        [logged] = await show_log(client)
        assert await show_log(client, [{"limit": 0}]) == []
    assert logged["request_id"] == rid == command.arguments[0]
    assert logged["uri"] == URI and logged["matches"] == [ref]
    assert diag.severity == t.DiagnosticSeverity.Warning
    assert "graphs.py" in diag.message and "GPL-3.0-only" in diag.message
    assert "not in the allowlist" in diag.message
    assert diag.range.end.line >= line and diag.range.start.line <= line
    log = data_home / "safecoder-lsp" / "references.jsonl"
    [entry] = [json.loads(x) for x in log.read_text().splitlines()]
    assert entry["request_id"] == command.arguments[0]
    assert entry["matches"][0]["path"] == "graphs.py"
    assert entry["matches"][0]["license"] == "GPL-3.0-only"
    assert text.strip() not in log.read_text()  # no code in the log


async def test_a_missing_or_corrupt_index_is_reported_and_completions_go_on(clean_env, tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"garbage" * 1000)
    for path, needle in ((tmp_path / "none.sqlite", "does not exist"), (bad, "not a usable")):
        env = {"SAFECODER_ATTRIBUTION_INDEX": str(path), "SAFECODER_ATTRIBUTION_ACTION": "block"}
        async with session(clean_env, caps("vscode"), extra_env=env) as client:
            msg = await wait_for_message(client, needle)
            assert str(path) in msg
            open_doc(client, URI, PREFIX + "\n")
            items = await inline(client, URI, *end_of(PREFIX))
            assert items and items[0].insert_text.strip()
    assert not (tmp_path / "none.sqlite").exists()  # never created by the server
