"""The code around the cursor, cut to token budgets.

The prefix window is whole lines before the cursor's line, nearest first, up to
``prefix_tokens``; the suffix window is the rest of the cursor's line and whole
lines after it up to ``suffix_tokens``. The text typed on the cursor's line
(``line_head``) is kept apart so the prompt can put it last, and so are the whole
lines from ``middle_from`` to the cursor's line (``typed``), which the prompt puts
after its middle marker too: the few lines before the cursor's line always
(``completion.lead_lines``), and more while the engine's cache holds the prompt from
before they were typed (``completion.middle_lines``; completion/service.py).

Stability is what makes the engine fast: consecutive keystrokes should produce
prompts whose start is byte-identical, so the KV cache is reused. The prefix
window therefore starts at a sticky *anchor* line that is kept while the window
from the anchor to the cursor still fits the budget; when it no longer fits, a new
anchor is chosen that fills only ``refill`` of the budget, leaving room to grow.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from safecoder_lsp.documents import Document

# A long line (minified code) is cut to this many characters per budget token.
CHARS_PER_TOKEN_CAP = 4


@dataclass(frozen=True)
class CompletionContext:
    before: str  # whole lines before the typed ones (each ending with its line break)
    line_head: str  # the cursor's line, before the cursor
    line_tail: str  # the cursor's line, after the cursor
    after: str  # the line break ending the cursor's line and the lines after it
    language: str
    path: str
    start_line: int  # first line in the prefix window
    cursor_line: int
    end_line: int  # last line in the suffix window
    typed: str = ""  # whole lines between ``before`` and the cursor's line (see above)

    @property
    def prefix(self) -> str:
        return self.before + self.typed + self.line_head

    @property
    def indentation_only(self) -> bool:
        """Only whitespace is typed on the cursor's line before the cursor (some)."""
        return bool(self.line_head) and not self.line_head.strip()

    @property
    def prefix_end_line(self) -> int:
        """The first line not in ``before``."""
        return self.cursor_line - self.typed.count("\n")

    @property
    def suffix(self) -> str:
        return self.line_tail + self.after


class TokenCounter:
    """Counts tokens per line with a bounded memo (lines repeat between requests)."""

    def __init__(self, count: Callable[[str], int], capacity: int = 20000) -> None:
        self._count = count
        self._memo: OrderedDict[str, int] = OrderedDict()
        self._capacity = capacity

    def __call__(self, text: str) -> int:
        n = self._memo.get(text)
        if n is not None:
            self._memo.move_to_end(text)
            return n
        n = self._count(text)
        self._memo[text] = n
        if len(self._memo) > self._capacity:
            self._memo.popitem(last=False)
        return n


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate (about 3 characters per token for code)."""
    return (len(text) + 2) // 3


def _line_with_break(doc: Document, line: int) -> str:
    start = doc._starts[line]
    end = doc._starts[line + 1] if line + 1 < doc.line_count else len(doc.text)
    return doc.text[start:end]


def choose_start(
    doc: Document,
    cursor_line: int,
    count: Callable[[str], int],
    budget: int,
    anchor: int | None,
    refill: float = 0.75,
) -> int:
    """First line of the prefix window (see the module docstring)."""
    if anchor is not None and 0 <= anchor <= cursor_line:
        total = 0
        for i in range(anchor, cursor_line):
            total += count(_line_with_break(doc, i))
            if total > budget:
                break
        if total <= budget:
            return anchor
    target = max(1, int(budget * refill)) if anchor is not None else budget
    total = 0
    start = cursor_line
    while start > 0:
        n = count(_line_with_break(doc, start - 1))
        if total + n > target:
            break
        total += n
        start -= 1
    return start


def choose_end(doc: Document, cursor_line: int, count: Callable[[str], int], budget: int) -> int:
    """Last line of the suffix window (the cursor's line when the budget is 0)."""
    total = 0
    end = cursor_line
    while end + 1 < doc.line_count:
        n = count(_line_with_break(doc, end + 1))
        if total + n > budget:
            break
        total += n
        end += 1
    return end


def build_context(
    doc: Document,
    offset: int,
    count: Callable[[str], int],
    prefix_tokens: int,
    suffix_tokens: int,
    anchor: int | None = None,
    middle_from: int | None = None,
) -> CompletionContext:
    """The context of a request at ``offset``; ``anchor``: the prefix window's sticky
    start; ``middle_from``: the first of the lines to put in ``typed`` (at the prefix
    window's start when it lies before it)."""
    line, _ = doc.position_at(offset, "utf-32")
    line_start, line_end = doc.line_span(line)
    head = doc.text[line_start:offset]
    tail = doc.text[offset:line_end]
    head_cap = prefix_tokens * CHARS_PER_TOKEN_CAP
    tail_cap = max(suffix_tokens, 16) * CHARS_PER_TOKEN_CAP
    if len(head) > head_cap:
        head = head[-head_cap:]
    if len(tail) > tail_cap:
        tail = tail[:tail_cap]

    start = choose_start(doc, line, count, prefix_tokens, anchor)
    end = choose_end(doc, line, count, suffix_tokens)
    starts = doc._starts
    split = line_start
    if middle_from is not None and middle_from < line:
        split = starts[max(start, middle_from)]
    before, typed = doc.text[starts[start] : split], doc.text[split:line_start]
    after = ""
    if end > line:
        # Through the line break that ends the last suffix line, when the file goes on.
        stop = starts[end + 1] if end + 1 < doc.line_count else len(doc.text)
        after = doc.text[line_end:stop]
    return CompletionContext(
        before=before,
        line_head=head,
        line_tail=tail,
        after=after,
        language=doc.language_id,
        path=doc.uri,
        start_line=start,
        cursor_line=line,
        end_line=end,
        typed=typed,
    )
