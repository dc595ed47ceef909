"""The default local mode never touches the network: a whole editor session through the
real server over stdio with the embedded llama.cpp engine on the real default model
(open, edit, inline completion, an llm-ls completion, accept both, attribution on with
an index built by ``safecoder-lsp attribution build``), every process under the audit
hook of audited_server.py. The record must hold no network call of any kind (no
connect, no address lookup, no send, no bind, no urllib request) and no child process;
the debug log and the reference log hold neither the document's text nor the
suggestion."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from audit_session import audited_session
from lsp_session import end_of, inline, insert_text, open_doc, plain, send_raw_request, stats
from lsprotocol import types as t
from test_attribution import GPL3
from test_attribution import PREFIX as BEFORE

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="function")]

AUDITED = Path(__file__).with_name("audited_server.py")
ROOT = Path(__file__).resolve().parents[2]
SECRET = "zebra_quux_internal_ledger"
PREFIX = f"# {SECRET}: shortest paths of the ledger graph\n" + BEFORE
URI = "file:///w/ledger_paths.py"


def events(audit: Path) -> list[dict]:
    if not audit.exists():
        return []
    return [json.loads(line) for line in audit.read_text().splitlines()]


def audited_cli(args: list[str], env: dict[str, str], audit: Path) -> str:
    proc = subprocess.run(
        [sys.executable, str(AUDITED), str(audit), *args],
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


async def edit_and_complete(client) -> list:
    """Open the file without the secret line, type it in (a didChange), then ask."""
    open_doc(client, URI, BEFORE + "\n")
    client.text_document_did_change(
        t.DidChangeTextDocumentParams(
            text_document=t.VersionedTextDocumentIdentifier(uri=URI, version=2),
            content_changes=[t.TextDocumentContentChangeWholeDocument(text=PREFIX + "\n")],
        )
    )
    return await inline(client, URI, *end_of(PREFIX))


async def test_a_whole_local_session_makes_no_network_call(clean_env, model_path, tmp_path):
    data_home = tmp_path / "data"
    log_file = tmp_path / "server.log"
    env = {
        **clean_env,
        "SAFECODER_LOG_FILE": str(log_file),
        "SAFECODER_LOG_LEVEL": "debug",
        # the same suggestion in both sessions: no time-budget cut-off on a busy machine
        "SAFECODER_COMPLETION_TIME_BUDGET_MS": "60000",
        "XDG_DATA_HOME": str(data_home),
    }
    audits = {name: tmp_path / f"audit-{name}.jsonl" for name in ("learn", "build", "session")}

    # 1. What the model suggests here (a session of its own, audited as well).
    async with audited_session(env, audits["learn"]) as client:
        items = await edit_and_complete(client)
    assert items and items[0].insert_text.strip()
    text = items[0].insert_text

    # 2. A GPL project holding this code, suggestion included, indexed by the CLI.
    project = tmp_path / "gpl-graphs"
    project.mkdir()
    (project / "COPYING").write_text(GPL3)
    (project / "graphs.py").write_text(PREFIX + text + "\n    return distances\n")
    index = tmp_path / "index.sqlite"
    build = ["attribution", "build", str(project), "--index", str(index), "--workers", "1"]
    audited_cli(build, env, audits["build"])
    assert index.is_file()

    # 3. The session: attribution on (annotate), open, edit, inline, llm-ls, accept both.
    env["SAFECODER_ATTRIBUTION_INDEX"] = str(index)
    async with audited_session(env, audits["session"]) as client:
        items = await edit_and_complete(client)
        assert items and items[0].insert_text == text
        command = items[0].command
        rid, extra = plain(command.arguments)
        [ref] = extra["references"]  # attribution ran and found the GPL project
        assert ref["path"] == "graphs.py" and ref["license"] == "GPL-3.0-only"
        line, ch = end_of(PREFIX)
        got = await send_raw_request(
            client,
            "llm-ls/getCompletions",
            {"textDocument": {"uri": URI}, "position": {"line": line, "character": ch}},
            "llm-1",
        )
        [completion] = got["completions"]
        assert completion["generated_text"] == text
        assert completion["references"] == [ref]
        # the editor inserts the inline suggestion and runs the item's command ...
        insert_text(client, URI, 3, line, ch, text)
        await client.workspace_execute_command_async(
            t.ExecuteCommandParams(command=command.command, arguments=command.arguments)
        )
        # ... and an llm-ls client accepts its own completion
        accepted = await send_raw_request(
            client,
            "llm-ls/acceptCompletion",
            {"requestId": got["request_id"], "acceptedCompletion": 0, "shownCompletions": [0]},
            "llm-2",
        )
        assert accepted is None
        assert (await stats(client))["accepted"] == 2
        for _ in range(100):  # the attribution diagnostic on the accepted code
            if client.diagnostics.get(URI):
                break
            await asyncio.sleep(0.1)
        assert client.diagnostics.get(URI)

    # 4. No process made a network call or started a child process.
    for name, audit in audits.items():
        assert audit.exists(), f"the {name} process ran without the audit hook"
        assert events(audit) == [], (name, events(audit))
    # ... and no code reached the logs.
    logged = log_file.read_text()
    assert "completion" in logged  # the debug log was written
    reference_log = (data_home / "safecoder-lsp" / "references.jsonl").read_text()
    assert rid in reference_log  # the accepted suggestion was logged, by reference only
    for written in (logged, reference_log):
        assert SECRET not in written
        assert text.strip() not in written
