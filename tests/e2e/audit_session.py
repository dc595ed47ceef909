"""A language-server session whose server process records its network calls
(audited_server.py), and what the record says."""

from __future__ import annotations

import json
from pathlib import Path

from lsp_session import caps
from lsprotocol import types as t


def audited_session(env: dict[str, str], audit: Path, **kwargs):
    """A session whose server process records its network calls into ``audit``."""
    import lsp_session

    script = Path(__file__).with_name("audited_server.py")
    command = [lsp_session.SERVER[0], str(script), str(audit), "serve", "--stdio"]
    return _session_with(command, env, **kwargs)


def _session_with(command: list[str], env: dict[str, str], **kwargs):
    import contextlib

    from pytest_lsp.client import make_test_lsp_client

    @contextlib.asynccontextmanager
    async def run():
        client = make_test_lsp_client()
        root = str(Path(__file__).resolve().parents[2])
        await client.start_io(*command, env={**env, "PYTHONPATH": root})
        try:
            await client.initialize_session(
                t.InitializeParams(
                    capabilities=caps("vscode"), initialization_options=kwargs.get("init")
                )
            )
            yield client
        finally:
            try:
                await client.shutdown_session()
            finally:
                await client.stop()

    return run()


def connects(audit: Path) -> list[tuple[str, str]]:
    out = []
    for line in audit.read_text().splitlines():
        entry = json.loads(line)
        if entry["event"] == "socket.connect" and len(entry["args"]) >= 2:
            out.append((entry["args"][0], entry["args"][1]))
    return out
