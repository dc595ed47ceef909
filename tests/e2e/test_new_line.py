"""A new line while typing, through the real server and engine: the lines typed since
the engine's cache last held the file's prompt stay after the middle marker
(completion.middle_lines), so the text after the cursor is not evaluated again; with
middle_lines = 0 it is (the prefix gains the finished line in front of it)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from lsp_session import caps, engine_ready, inline, insert_text, open_doc, session, stats

pytestmark = [pytest.mark.model, pytest.mark.asyncio]

URI = "file:///w/typing.py"


def source() -> tuple[str, int, str]:
    """textwrap's first 120 lines, a line inside a function body to type after, and
    that line's indentation."""
    lines = Path(textwrap.__file__).read_text().splitlines(keepends=True)[:120]
    line = next(i for i, text in enumerate(lines) if text.startswith("    letter = "))
    indent = lines[line][: len(lines[line]) - len(lines[line].lstrip())]
    return "".join(lines), line, indent


async def type_two_lines(env: dict, middle_lines: int) -> tuple[dict, dict, list]:
    """Type a statement on a new line and ask; press Enter and ask again at once.
    Returns the engine stats of both requests and the second one's suggestions."""
    text, line, indent = source()
    end = len(text.splitlines()[line])
    # no warm-ups: a pause warm-up would bring the cache to the usual prompt
    options = {"completion": {"warm": False, "middle_lines": middle_lines}}
    async with session(env, caps("vscode"), init_options=options) as client:
        await engine_ready(client, timeout=120)
        open_doc(client, URI, text)
        insert_text(client, URI, 2, line, end, "\n" + indent + "width = 0")
        await inline(client, URI, line + 1, len(indent) + len("width = 0"), invoked=True)
        first = (await stats(client))["last_engine"]
        insert_text(client, URI, 3, line + 1, len(indent) + len("width = 0"), "\n" + indent)
        items = await inline(client, URI, line + 2, len(indent), invoked=True)
        second = (await stats(client))["last_engine"]
    return first, second, items


async def test_a_new_line_reuses_the_text_after_the_cursor(clean_env):
    first, second, items = await type_two_lines(clean_env, middle_lines=8)
    assert first["evaluated_tokens"] > 150  # the file's whole prompt, the first time
    # Only the new line and what follows the middle marker are new.
    assert second["evaluated_tokens"] <= 16, second
    assert second["reused_tokens"] > 150, second
    assert second["generated_tokens"] > 0 and items, (second, items)
    # the suggestion goes on the new line: it does not repeat the typed statement
    assert "width = 0" not in items[0].insert_text


async def test_without_middle_lines_a_new_line_evaluates_the_suffix_again(clean_env):
    _, second, _ = await type_two_lines(clean_env, middle_lines=0)
    assert second["evaluated_tokens"] > 100, second


async def test_an_empty_line_in_a_body_gets_an_indented_statement(clean_env):
    # HumanEval/26 with its first body line missing (MIT, openai/human-eval). The lead
    # lines end with a line break; healing it forced code right after it, at column 0:
    # this hole got "!" (and others "python" or a comment), where the raw model writes
    # the indented statement.
    text = (
        "from typing import List\n\n\n"
        "def remove_duplicates(numbers: List[int]) -> List[int]:\n"
        '    """ From a list of integers, remove all elements that occur more than once.\n'
        "    Keep order of elements left the same as in the input.\n"
        "    >>> remove_duplicates([1, 2, 3, 2, 4])\n"
        "    [1, 3, 4]\n"
        '    """\n'
        "    import collections\n"
        "\n"
        "    return [n for n in numbers if c[n] <= 1]\n"
    )
    async with session(clean_env, caps("vscode")) as client:
        await engine_ready(client, timeout=120)
        open_doc(client, URI, text)
        items = await inline(client, URI, 10, 0)
    assert items, "no suggestion"
    first = items[0].insert_text.split("\n")[0]
    assert first.startswith("    ") and first.strip(), items[0].insert_text
