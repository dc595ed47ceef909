"""Warm-ups through the real server: a file opened and left idle gets its first
suggestion with fewer prompt tokens evaluated than a cold one, and a request does
not wait for a warm-up (it stops between prompt chunks)."""

from __future__ import annotations

import asyncio
import string
import textwrap
from pathlib import Path

import pytest
import pytest_asyncio
from lsp_session import caps, engine_ready, inline, insert_text, open_doc, session, stats

pytestmark = [pytest.mark.model, pytest.mark.asyncio(loop_scope="module")]

LINE = 40  # the cursor's line: inside the window a warm-up of the file's start holds


def opened_mid_line(module) -> tuple[str, int]:
    """The first 120 lines of a standard library module with line LINE cut in half
    (the user is typing there), and the cursor's character."""
    lines = Path(module.__file__).read_text().splitlines(keepends=True)[:120]
    while not lines[LINE].strip():
        lines.pop(LINE)
    head = lines[LINE][: max(1, len(lines[LINE].rstrip()) // 2)]
    lines[LINE] = head + "\n"
    return "".join(lines), len(head)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def client(clean_env):
    async with session(clean_env, caps("vscode")) as c:
        await engine_ready(c, timeout=120)
        yield c


async def wait_warm(client, jobs: int, timeout: float = 600) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        s = await stats(client)
        if s["warm_jobs"] >= jobs or asyncio.get_running_loop().time() > deadline:
            return s
        await asyncio.sleep(0.1)


async def test_an_idle_open_file_is_warm_and_a_cold_one_does_not_wait_for_warm_ups(client):
    text, col = opened_mid_line(textwrap)
    open_doc(client, "file:///w/textwrap.py", text)
    s = await wait_warm(client, 1)
    assert s["warm_jobs"] == 1, s  # the file's start, evaluated while the user reads
    await inline(client, "file:///w/textwrap.py", LINE, col, invoked=True)
    warm = (await stats(client))["last_engine"]
    assert warm["reused_tokens"] > 0

    # Another file, asked at once: its warm-up gives way to the request.
    text, col = opened_mid_line(string)
    open_doc(client, "file:///w/string.py", text)
    await inline(client, "file:///w/string.py", LINE, col, invoked=True)
    cold = (await stats(client))["last_engine"]
    assert warm["evaluated_tokens"] < cold["evaluated_tokens"], (warm, cold)
    # At most one warm-up chunk (64 tokens) ran before the request: less than the
    # request's own prompt (more than 128 tokens) took.
    assert cold["evaluated_tokens"] > 128
    assert cold["queue_ms"] < cold["prompt_eval_ms"], cold


async def test_a_pause_at_the_end_of_a_line_warms_the_prompt_after_enter(client):
    uri = "file:///w/enter.py"
    lines = Path(textwrap.__file__).read_text().splitlines(keepends=True)[:120]
    open_doc(client, uri, "".join(lines))
    await asyncio.sleep(0.5)  # let the open warm-up start: the edit below replaces it
    line = next(i for i, text in enumerate(lines) if text.startswith("    letter = "))
    end = len(lines[line].rstrip("\n"))
    before = (await stats(client))["warm_jobs"]
    insert_text(client, uri, 2, line, end, "  # checked")  # then the user pauses
    s = await wait_warm(client, before + 1)
    assert s["warm_jobs"] == before + 1, s
    indent = lines[line][: len(lines[line]) - len(lines[line].lstrip())]
    insert_text(client, uri, 3, line, end + len("  # checked"), "\n" + indent)  # Enter
    await inline(client, uri, line + 1, len(indent), invoked=True)
    after_enter = (await stats(client))["last_engine"]
    # Only the new line's indentation (and the re-evaluated last token) is new:
    # without the warm-up a new line evaluates the suffix window (~190 tokens) again.
    assert after_enter["evaluated_tokens"] <= 16, after_enter
    assert after_enter["reused_tokens"] > 150, after_enter
