"""Shared-endpoint mode end to end: the real server over stdio, completing through a
real third-party endpoint on 127.0.0.1 (llama-cpp-python's own OpenAI-compatible
server on the default model), the endpoint going down and coming back, the local
fallback, the admin policy, and the privacy guarantees (where connections go, what
the log holds)."""

from __future__ import annotations

import asyncio
import json

import pytest
from audit_session import audited_session, connects
from endpoints import free_port, llama_cpp_python_server
from lsp_session import (
    ADD_PREFIX,
    ADD_SUFFIX,
    caps,
    end_of,
    inline,
    open_doc,
    session,
    stats,
    wait_for_message,
)
from lsprotocol import types as t

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def endpoint(model_path):
    with llama_cpp_python_server(model_path) as url:
        yield url


@pytest.fixture(scope="module")
def infill_endpoint(model_path, llama_server_binary):
    """The C++ llama-server (built once from the vendored llama.cpp sources)."""
    from support.llama_server import serve

    with serve(model_path) as url:
        yield url


def remote_env(clean_env: dict[str, str], url: str, **extra: str) -> dict[str, str]:
    env = dict(clean_env)
    env.update(
        SAFECODER_ENGINE_KIND="openai",
        SAFECODER_ENGINE_URL=url,
        SAFECODER_ENGINE_RETRIES="0",
        SAFECODER_COMPLETION_TIME_BUDGET_MS="20000",
    )
    env.update(extra)
    return env


async def complete_add(client, uri: str = "file:///w/add.py") -> list:
    open_doc(client, uri, ADD_PREFIX + ADD_SUFFIX)
    line, ch = end_of(ADD_PREFIX)
    return await inline(client, uri, line, ch)


def looks_like_add(text: str) -> bool:
    return "a" in text and "b" in text and "+" in text


async def test_completion_through_a_third_party_openai_endpoint(clean_env, endpoint):
    async with session(remote_env(clean_env, endpoint), caps("vscode")) as client:
        items = await complete_add(client)
        assert items, "the endpoint should have answered"
        assert looks_like_add(items[0].insert_text), items[0].insert_text
        st = await stats(client)
        assert st["engine"] == 1
        assert st["completed_jobs"] == 1
        assert st["engine_kind"] == "openai"
        assert "qwen2.5-coder" in st["model"]  # the model the endpoint says it serves


@pytest.mark.timeout(1800)  # a fresh machine builds llama-server first (about 9 minutes)
async def test_completion_through_llama_cpp_infill_with_other_files(clean_env, infill_endpoint):
    env = remote_env(clean_env, infill_endpoint, SAFECODER_ENGINE_KIND="llamacpp-infill")
    async with session(env, caps("neovim")) as client:
        open_doc(client, "file:///w/util.py", "def sub(a, b):\n    return a - b\n")
        items = await complete_add(client)
        assert items and looks_like_add(items[0].insert_text), items
        st = await stats(client)
        assert st["engine"] == 1


async def test_down_endpoint_is_reported_and_completions_resume_when_it_is_back(
    clean_env, model_path
):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = remote_env(clean_env, url, SAFECODER_ENGINE_BREAKER_COOLDOWN_S="0.1")
    async with session(env, caps("vscode")) as client:
        assert await complete_add(client) == []
        message = await wait_for_message(client, "not running")
        assert url in message
        # The server is still up and answers other requests.
        assert (await stats(client))["requests"] == 1
        with llama_cpp_python_server(model_path, port):
            # The next keystrokes find it again (the first may only learn, in the
            # background, which model it serves).
            for attempt in range(20):
                await asyncio.sleep(0.5)
                items = await complete_add(client, f"file:///w/again{attempt}.py")
                if items:
                    break
            assert items and looks_like_add(items[0].insert_text)


async def test_local_fallback_answers_while_the_endpoint_is_down(clean_env):
    url = f"http://127.0.0.1:{free_port()}"
    env = remote_env(clean_env, url, SAFECODER_ENGINE_FALLBACK="local")
    async with session(env, caps("vscode")) as client:
        items = await complete_add(client)
        assert items and looks_like_add(items[0].insert_text)
        await wait_for_message(client, "the local model answers")


async def test_a_public_endpoint_is_refused_with_the_setting_that_allows_it(clean_env, tmp_path):
    audit = tmp_path / "audit.jsonl"
    env = remote_env(clean_env, "http://93.184.216.34:8080")
    async with audited_session(env, audit) as client:
        assert await complete_add(client) == []
        message = await wait_for_message(client, "refused to send code")
        assert "93.184.216.34" in message
        assert "network.allowed_hosts" in message
    assert not [c for c in connects(audit) if c[0] == "93.184.216.34"]


async def test_workspace_setting_cannot_move_the_endpoint(clean_env, endpoint):
    configuration = {"engine": {"url": "http://10.9.9.9:1", "kind": "tgi"}}
    async with session(
        remote_env(clean_env, endpoint), caps("vscode"), configuration=configuration
    ) as client:
        await wait_for_message(client, "not in workspace settings")
        items = await complete_add(client)
        assert items and looks_like_add(items[0].insert_text)


# -- privacy ------------------------------------------------------------------------
async def test_a_full_session_talks_only_to_the_endpoint_and_logs_no_code(
    clean_env, endpoint, tmp_path
):
    """Open, edit, complete, accept, under an audit hook; the policy pins the endpoint
    and an attempt to move it (initializationOptions) is refused."""
    port = endpoint.rsplit(":", 1)[1]
    policy = tmp_path / "policy.toml"
    policy.write_text(f'[engine]\nkind = "openai"\nurl = "{endpoint}"\n')
    log_file = tmp_path / "server.log"
    audit = tmp_path / "audit.jsonl"
    env = remote_env(
        clean_env,
        endpoint,
        SAFECODER_POLICY=str(policy),
        SAFECODER_LOG_FILE=str(log_file),
        SAFECODER_LOG_LEVEL="debug",
    )
    secret = "zebra_quux_internal_ledger"
    uri = "file:///w/ledger.py"
    text = f"# {secret}\ndef add(a, b):\n    return "
    init = {"engine": {"url": "http://203.0.113.7:8080"}}
    async with audited_session(env, audit, init=init) as client:
        await wait_for_message(client, "pinned by the admin policy")
        open_doc(client, uri, text + "\n")
        client.text_document_did_change(
            t.DidChangeTextDocumentParams(
                text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=2),
                content_changes=[t.TextDocumentContentChangeWholeDocument(text=text + "\n\n")],
            )
        )
        line, ch = end_of(text)
        items = await inline(client, uri, line, ch)
        assert items and looks_like_add(items[0].insert_text)
        suggestion = items[0].insert_text
        command = items[0].command
        assert command is not None
        await client.workspace_execute_command_async(
            t.ExecuteCommandParams(command=command.command, arguments=command.arguments)
        )
        assert (await stats(client))["accepted"] == 1
    targets = set(connects(audit))
    assert targets == {("127.0.0.1", port)}, targets
    logged = log_file.read_text()
    assert "completion" in logged  # the log was written
    assert secret not in logged
    assert suggestion.strip() not in logged


# -- doctor and the complete command --------------------------------------------------
def run_cli(args: list[str], env: dict[str, str]):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "safecoder_lsp", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_doctor_checks_the_endpoint_and_shows_the_policy(clean_env, endpoint, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text('[attribution]\naction = "block"\n')
    proc = run_cli(["doctor"], remote_env(clean_env, endpoint, SAFECODER_POLICY=str(policy)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[  ok] engine: openai" in proc.stdout
    assert "FIM template: qwen2.5-coder" in proc.stdout  # from the served model's name
    assert "[  ok] generation: 'a + b'" in proc.stdout
    assert f"attribution.action pinned by {policy}" in proc.stdout


def test_doctor_fails_when_the_endpoint_is_down(clean_env):
    url = f"http://127.0.0.1:{free_port()}"
    proc = run_cli(["doctor"], remote_env(clean_env, url))
    assert proc.returncode == 1
    assert f"the endpoint {url} is not running" in proc.stdout


def test_complete_command_uses_the_endpoint(clean_env, endpoint, tmp_path):
    source = tmp_path / "add.py"
    source.write_text(ADD_PREFIX + ADD_SUFFIX)
    line, ch = end_of(ADD_PREFIX)
    proc = run_cli(
        ["complete", str(source), "--line", str(line), "--character", str(ch), "--json"],
        remote_env(clean_env, endpoint),
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert looks_like_add(out["text"]) and out["source"] == "engine"
