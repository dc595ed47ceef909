"""Where a request's prefix window starts when warm-ups and a cold file are in play
(safecoder_lsp.completion.warm.choose_window_start and helpers)."""

from safecoder_lsp.completion.warm import (
    KvView,
    accepted,
    choose_window_start,
    covered_line,
    line_broken,
    open_offset,
    window_tokens,
)
from safecoder_lsp.documents import Document

LINES = [f"line_{i:03d} = {i}\n" for i in range(200)]
DOC = Document("file:///a.py", "".join(LINES))
BUDGET = 100  # 20 lines of 5 "tokens"


def count(text: str) -> int:
    return 5  # every line costs 5 "tokens"


def start(line, anchor=None, kv=None, fraction=0.4):
    return choose_window_start(DOC, line, count, BUDGET, fraction, anchor, kv)


def test_a_cold_file_gets_the_short_window():
    # 40 tokens = 8 lines before the cursor, not the 20 the budget holds
    assert start(100) == 92
    assert start(100, fraction=1.0) == 80


def test_the_sticky_anchor_is_kept_while_the_cache_holds_its_window():
    kv = KvView(DOC.uri, 92, 100)  # the last request evaluated lines 92..99
    assert start(101, anchor=92, kv=kv) == 92  # grows from the cold window's start
    assert start(111, anchor=92, kv=KvView(DOC.uri, 92, 110)) == 92  # 19 lines still fit
    # 11 lines not in the cache cost more than a cold window of 8
    assert start(111, anchor=92, kv=kv) == 103
    # past the budget in the file the cache holds: refilled to 75% (15 lines)
    assert start(113, anchor=92, kv=KvView(DOC.uri, 92, 112)) == 98


def test_another_file_in_the_cache_makes_the_file_cold_again():
    other = KvView("file:///b.py", 0, 50)
    assert start(100, anchor=85, kv=other) == 92  # 15 lines uncached vs 8 cold


def test_a_warmed_window_is_used_when_it_covers_the_lines_before_the_cursor():
    warmed = KvView(DOC.uri, 0, 20)  # the open warm-up evaluated lines 0..19
    assert start(15, kv=warmed) == 0  # nothing left to evaluate: all 15 lines of context
    partly = KvView(DOC.uri, 0, 8)
    assert start(15, kv=partly) == 0  # 7 lines to evaluate, 8 for a cold window
    barely = KvView(DOC.uri, 0, 2)
    assert start(15, kv=barely) == 7  # 13 lines to evaluate: the cold window is cheaper


def test_covered_line_counts_whole_lines_after_the_markers():
    assert covered_line(DOC, 10, 50, 2 + 5 * 7 + 3, count) == 17
    assert covered_line(DOC, 10, 12, 10_000, count) == 12  # never past the cursor
    assert window_tokens(DOC, 10, 17, count) == 35


def test_open_offset_is_the_line_after_the_first_budget_of_the_file():
    assert open_offset(DOC, count, BUDGET) == DOC.offset_at(20, 0, "utf-32")
    tiny = Document("file:///t.py", "x = 1\n")
    assert open_offset(tiny, count, BUDGET) == len(tiny.text)  # all of it


def test_accepted_inserts_the_first_line_of_the_suggestion():
    doc = Document("file:///c.py", "def f():\n    ret\n", 1, "python")
    offset = doc.text.index("ret") + 3
    future, cursor = accepted(doc, offset, "urn 1\n    x")
    assert future.text == "def f():\n    return 1\n"
    assert future.text[:cursor].endswith("return 1")
    assert doc.text == "def f():\n    ret\n"  # the open document is untouched


def test_line_broken_only_at_the_end_of_a_line_with_code():
    doc = Document("file:///d.py", "x = 1\n    \ny = 2", 1, "python")
    future, cursor = line_broken(doc, len("x = 1"))
    assert future.text == "x = 1\n\n    \ny = 2"
    assert cursor == len("x = 1\n")
    assert line_broken(doc, len("x = ")) is None  # mid-line
    assert line_broken(doc, len("x = 1\n    ")) is None  # a blank line


def test_line_broken_indents_the_new_line_as_an_editor_would():
    doc = Document("file:///d.py", "def f(x):\n    if x:\n    y = 2", 1, "python")
    opener = len("def f(x):\n    if x:")
    future, cursor = line_broken(doc, opener)  # one level deeper after a block opener
    assert future.text == "def f(x):\n    if x:\n        \n    y = 2"
    assert cursor == opener + 1 + 8
    future, cursor = line_broken(doc, len(doc.text))  # the line's own indentation
    assert future.text.endswith("    y = 2\n    ") and cursor == len(future.text)
