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
from lsp_session import caps, engine_ready, inline, open_doc, session, stats

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
