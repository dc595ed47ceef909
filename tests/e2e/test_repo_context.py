"""Repository context through the real server and the real default model: the
current file calls a function defined in a workspace file that is not open, with a
keyword argument no model could guess; the suggestion uses it only when the
server reads the workspace (context.enabled), which shows the test can fail."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsp_session import caps, end_of, engine_ready, inline, open_doc, session, stats

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="function")]

LIBRARY = (
    '"""List utilities."""\n\n\n'
    "def zorblax_merge(left_items, right_items, *, frobnication_level=3, keep_glorps=False):\n"
    '    """Merge two lists, frobnicating at the given level; glorps are dropped unless kept."""\n'
    "    merged = list(left_items) + list(right_items)\n"
    "    return merged[: len(merged) - frobnication_level]\n"
)
PREFIX = (
    "from lib.zorb import zorblax_merge\n\n\ndef combine(a, b):\n    return zorblax_merge(a, b, "
)
SUFFIX = "\n"


def workspace(root: Path) -> str:
    (root / "lib").mkdir()
    (root / "lib" / "__init__.py").write_text("")
    (root / "lib" / "zorb.py").write_text(LIBRARY)
    (root / "app.py").write_text(PREFIX + SUFFIX)
    return (root / "app.py").as_uri()


async def suggestion(env: dict[str, str], root: Path, uri: str, context: bool) -> tuple[str, dict]:
    # A time budget that a busy machine cannot cut short: this test is about content.
    options = {"context": {"enabled": context}, "completion": {"time_budget_ms": 60000}}
    async with session(env, caps("vscode"), options, root_uri=root.as_uri()) as client:
        await engine_ready(client)
        for _ in range(100):  # the workspace is read in the background
            if not context or (await stats(client))["context_files"] >= 3:
                break
            await asyncio.sleep(0.05)
        open_doc(client, uri, PREFIX + SUFFIX)
        line, ch = end_of(PREFIX)
        items = await inline(client, uri, line, ch, invoked=True)
        return (items[0].insert_text if items else ""), await stats(client)


async def test_a_definition_from_a_workspace_file_reaches_the_suggestion(clean_env, tmp_path):
    uri = workspace(tmp_path)
    with_context, st = await suggestion(clean_env, tmp_path, uri, context=True)
    assert st["context_files"] == 3 and st["context_refreshes"] == 1
    assert "frobnication_level" in with_context, with_context
    without, st = await suggestion(clean_env, tmp_path, uri, context=False)
    assert st["context_files"] == 0 and st["context_refreshes"] == 0
    assert "frobnication_level" not in without, without
