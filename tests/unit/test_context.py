from safecoder_lsp.completion.context import build_context, choose_start, estimate_tokens
from safecoder_lsp.documents import Document

LINES = [f"line_{i:03d} = {i}\n" for i in range(200)]
TEXT = "".join(LINES)


def count(text: str) -> int:
    return 5  # every line costs 5 "tokens"


def test_prefix_and_suffix_windows_are_cut_to_the_budget_nearest_lines_first():
    doc = Document("u", TEXT)
    offset = doc.offset_at(100, 4, "utf-32")
    ctx = build_context(doc, offset, count, prefix_tokens=50, suffix_tokens=20)
    assert ctx.before == "".join(LINES[90:100])  # 10 lines x 5 tokens
    assert ctx.line_head == "line"
    assert ctx.line_tail == "_100 = 100"
    assert ctx.after == "\n" + "".join(LINES[101:105])
    assert ctx.prefix.endswith("line_099 = 99\nline")
    assert (ctx.start_line, ctx.cursor_line, ctx.end_line) == (90, 100, 104)


def test_window_start_is_sticky_while_typing_and_moving_down():
    doc = Document("u", TEXT)
    first = build_context(doc, doc.offset_at(100, 0, "utf-32"), count, 50, 0)
    assert first.start_line == 90
    # next lines: the anchor is kept while the window still fits
    nxt = build_context(doc, doc.offset_at(100, 5, "utf-32"), count, 50, 0, anchor=90)
    assert nxt.before == first.before
    # a new line far below: re-anchored to fill 75% of the budget
    far = build_context(doc, doc.offset_at(150, 0, "utf-32"), count, 50, 0, anchor=90)
    assert far.start_line == 150 - 7  # floor(50 * 0.75 / 5) = 7 lines


def test_anchor_kept_only_while_budget_holds():
    doc = Document("u", TEXT)
    assert choose_start(doc, 95, count, 50, anchor=90) == 90
    assert choose_start(doc, 100, count, 50, anchor=90) == 90  # exactly 50
    assert choose_start(doc, 101, count, 50, anchor=90) == 101 - 7


def test_cursor_at_document_start_and_end():
    doc = Document("u", "abc")
    ctx = build_context(doc, 0, count, 50, 50)
    assert (ctx.before, ctx.line_head, ctx.line_tail, ctx.after) == ("", "", "abc", "")
    ctx = build_context(doc, 3, count, 50, 50)
    assert (ctx.line_head, ctx.line_tail) == ("abc", "")


def test_a_very_long_line_is_capped():
    doc = Document("u", "x" * 100_000)
    ctx = build_context(doc, 100_000, estimate_tokens, 100, 10)
    assert len(ctx.line_head) == 400


def test_lines_from_middle_from_are_kept_apart_and_the_prefix_is_whole():
    doc = Document("u", TEXT)
    offset = doc.offset_at(100, 4, "utf-32")
    plain = build_context(doc, offset, count, 50, 20, anchor=90)
    ctx = build_context(doc, offset, count, 50, 20, anchor=90, middle_from=97)
    assert ctx.before == "".join(LINES[90:97])
    assert ctx.typed == "".join(LINES[97:100])
    assert ctx.prefix == plain.prefix  # the same text, laid out differently
    assert ctx.suffix == plain.suffix
    assert (ctx.prefix_end_line, plain.prefix_end_line) == (97, 100)
    # before the window's start: the whole window is kept apart
    whole = build_context(doc, offset, count, 50, 20, anchor=90, middle_from=80)
    assert whole.before == "" and whole.typed == plain.before
    # not before the cursor's line: nothing is
    for middle_from in (100, 120):
        other = build_context(doc, offset, count, 50, 20, anchor=90, middle_from=middle_from)
        assert other.typed == "" and other.before == plain.before
