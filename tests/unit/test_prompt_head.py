"""Where the text typed on the cursor's line goes in the prompt (service._split_head)."""

from safecoder_lsp.completion.context import build_context, estimate_tokens
from safecoder_lsp.completion.service import _split_head, _typed_off
from safecoder_lsp.documents import Document

BEFORE = "def f(xs):\n    for x in xs:\n"


def split(line: str) -> tuple[str, str]:
    doc = Document(uri="file:///w/a.py", text=BEFORE + line + "\n", version=1, language_id="python")
    return _split_head(build_context(doc, len(BEFORE + line), estimate_tokens, 768, 192))


def test_typed_code_goes_after_the_middle_marker():
    assert split("        total += ") == (BEFORE, "        total += ")


def test_indentation_alone_stays_with_the_prefix():
    assert split("        ") == (BEFORE + "        ", "")


def test_a_line_start_has_nothing_to_place():
    assert split("") == (BEFORE, "")


def split_typed(line: str, middle_from: int) -> tuple[str, str]:
    doc = Document(uri="file:///w/a.py", text=BEFORE + line + "\n", version=1, language_id="python")
    ctx = build_context(doc, len(BEFORE + line), estimate_tokens, 768, 192, middle_from=middle_from)
    return _split_head(ctx)


def test_lines_typed_since_the_cached_prompt_go_after_the_marker_with_the_line():
    # the loop's line was typed after the prompt the cache holds (middle_from = 1)
    loop = "    for x in xs:\n"
    assert split_typed("        total += ", 1) == ("def f(xs):\n", loop + "        total += ")
    # indentation alone is left out: the model writes it after the line break
    assert split_typed("        ", 1) == ("def f(xs):\n", loop)


def test_middle_from_at_the_cursor_line_or_outside_the_window_changes_nothing():
    assert split_typed("        total += ", 2) == (BEFORE, "        total += ")
    assert split_typed("        total += ", 5) == (BEFORE, "        total += ")
    assert split_typed("        total += ", -3) == ("", BEFORE + "        total += ")


def test_the_typed_indentation_is_taken_off_the_answer():
    assert _typed_off("        total += x\n", "        ") == "total += x\n"
    assert _typed_off("            total += x", "        ") == "    total += x"  # deeper
    assert _typed_off("    return total", "        ") == "return total"  # shallower
    assert _typed_off("\n        x = 1", "    ") == "\n        x = 1"  # a blank line first
    assert _typed_off("  x", "") == "  x"  # nothing left out
