"""Where the text typed on the cursor's line goes in the prompt (service._split_head)."""

from safecoder_lsp.completion.context import build_context, estimate_tokens
from safecoder_lsp.completion.service import _split_head
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
