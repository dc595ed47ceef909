"""Post-processing: an ordered list of small filters over the model's raw text.

Each filter is ``(text, ctx) -> text`` with one job; ``DEFAULT_FILTERS`` is the
order they run in. Golden cases live in ``tests/golden/postprocess/``.

Heuristics (kept simple on purpose, each covered by golden cases):
- block end by indentation: the suggestion's first line continues the cursor's
  line; a later non-blank line indented less than the block the cursor is in ends
  the suggestion (a brace language keeps that line when it is the block's closing
  bracket, and stops after it);
- code that already follows: on a blank line between existing lines of a block, or
  after a block opener whose body is already below, the suggestion is one line
  (multi-line suggestions there mostly rewrite the code that follows);
- block end by brackets: a closing bracket that closes more than was open at the
  cursor ends the suggestion;
- the suffix is not repeated: a tail equal to the rest of the line, or lines equal
  to the lines after the cursor, are dropped;
- in front of code on the line, the suggestion must fit: a copy of that code at its
  end is dropped, one that would leave the line's brackets unbalanced is not shown;
- where a tree-sitter grammar is installed (completion/syntax.py), a multi-line
  suggestion is cut back to the longest run of its lines that leaves the file with the
  fewest syntax errors (an unfinished statement, a block opener without a body, an
  unclosed string at its end are dropped);
- a multi-line suggestion cut off inside a bracket it opened loses its unfinished
  last statement (the rule for languages without a grammar);
- degenerate output (copying the previous line, the same line over and over) is cut.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from languages import DEFAULT_COMMENT, INDENTED, comment_of
from safecoder_lsp.completion.syntax import error_count, has_grammar

OPEN = {"(": ")", "[": "]", "{": "}"}
CLOSE = {")": "(", "]": "[", "}": "{"}

OPENERS = (":", "{", "(", "[", "=>")
# What may follow the cursor on its line without being code to fit in front of.
CLOSERS_AFTER = set(")]}>\"'`;,:")

# How much of the prefix is scanned for unclosed brackets.
BRACKET_SCAN_CHARS = 4000


@dataclass(frozen=True)
class FilterContext:
    prefix: str
    suffix: str
    language: str = ""
    mode: Literal["single", "multi"] = "multi"

    @property
    def line_prefix(self) -> str:
        return self.prefix[self.prefix.rfind("\n") + 1 :]

    @property
    def line_suffix(self) -> str:
        i = self.suffix.find("\n")
        return self.suffix if i == -1 else self.suffix[:i]

    @property
    def comment(self) -> str:
        return comment_of(self.language) or DEFAULT_COMMENT


Filter = Callable[[str, FilterContext], str]


def indent_width(line: str) -> int:
    width = 0
    for c in line:
        if c == " ":
            width += 1
        elif c == "\t":
            width += 4
        else:
            break
    return width


def _scan_brackets(text: str, comment: str, stack: list[str] | None = None):
    """Yield (index, char, depth_change_ok) for brackets outside strings/comments.

    Updates ``stack`` (the open brackets); yields ``(i, False)`` when a closing
    bracket does not match anything open.
    """
    stack = [] if stack is None else stack
    quote = ""
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if text.startswith(quote, i):
                i += len(quote)
                quote = ""
                continue
            if c == "\n" and len(quote) == 1:
                quote = ""
            i += 1
            continue
        if text.startswith(comment, i):
            j = text.find("\n", i)
            i = n if j == -1 else j
            continue
        if c in "\"'`":
            quote = text[i : i + 3] if text.startswith(c * 3, i) else c
            i += len(quote)
            continue
        if c in OPEN:
            stack.append(c)
        elif c in CLOSE:
            if stack and stack[-1] == CLOSE[c]:
                stack.pop()
            else:
                yield i, False
                i += 1
                continue
        i += 1
    return


def open_brackets(prefix: str, comment: str) -> list[str]:
    stack: list[str] = []
    for _ in _scan_brackets(prefix[-BRACKET_SCAN_CHARS:], comment, stack):
        stack.clear()  # an unmatched closer in the window: start over after it
    return stack


# -- filters ------------------------------------------------------------------------
def normalize_newlines(text: str, ctx: FilterContext) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def single_line(text: str, ctx: FilterContext) -> str:
    if ctx.mode != "single":
        return text
    i = text.find("\n")
    return text if i == -1 else text[:i]


def _block_cut(text: str, ctx: FilterContext) -> int | None:
    """Index where the suggestion leaves the current block, or None."""
    # 1. Brackets: closing more than was open at the cursor.
    stack = open_brackets(ctx.prefix, ctx.comment)
    for i, _ in _scan_brackets(text, ctx.comment, stack):
        bracket_cut = i
        break
    else:
        bracket_cut = None

    # 2. Indentation. The block is set by the cursor's line as the suggestion
    # completes it; on a blank line, by the first line the suggestion writes (the
    # cursor may stand at column 0 of a blank line inside a function). A line that
    # opens a block (``def f():``, ``if (x) {``) makes the suggestion that block.
    lines = text.split("\n")
    head, head_at = ctx.line_prefix + lines[0], 0
    if not head.strip():
        head_at = next((k for k in range(1, len(lines)) if lines[k].strip()), 0)
        head = lines[head_at] if head_at else ctx.line_prefix
    base = indent_width(head)
    # In an indentation language only ``:`` opens a block (a bracket opens a
    # statement's continuation lines, see _indent_cut).
    indented = ctx.language in INDENTED
    opener = head.rstrip().endswith(":" if indented else OPENERS)

    # 3. Code that already follows the cursor: a suggestion between existing lines of
    # one block (the next line of code is as deep as the suggestion's first line), or
    # a block opener whose body is already there (the next line is deeper), is one
    # line. A multi-line suggestion there would mostly rewrite what follows.
    follow_cut = None
    following = _next_code_line(ctx.suffix)
    if following is not None and head.strip() and not ctx.line_suffix.strip():
        deeper = indent_width(following) > base
        if (opener and deeper) or (not opener and indent_width(following) >= base):
            follow_cut = sum(len(x) + 1 for x in lines[:head_at]) + len(lines[head_at])
    indent_cut = _indent_cut(text, lines, base, opener, head_at, ctx)
    cuts = [c for c in (bracket_cut, indent_cut, follow_cut) if c is not None]
    return min(cuts) if cuts else None


def _indent_cut(
    text: str, lines: list[str], base: int, opener: bool, head_at: int, ctx: FilterContext
) -> int | None:
    """Where a later line indented less than the block ends the suggestion, or None.

    In an indentation language, a line that starts inside a bracket the suggestion
    opened (a call's arguments, its closing ``)``) continues a statement: no end."""
    braces = ctx.language not in INDENTED
    stack = open_brackets(ctx.prefix, ctx.comment)
    at_cursor = len(stack)
    for _ in _scan_brackets(lines[0], ctx.comment, stack):
        pass
    pos = len(lines[0]) + 1
    for k, line in enumerate(lines[1:], start=1):
        inside = not braces and len(stack) > at_cursor
        for _ in _scan_brackets(line, ctx.comment, stack):
            pass
        if line.strip() and k > head_at and not inside:
            ind = indent_width(line)
            if opener and ind == base and _continues_compound(line, ctx.language):
                pos += len(line) + 1
                continue
            if ind <= base if opener else ind < base:
                if not (braces and line.strip()[0] in CLOSE):
                    return pos
                # the block's closing bracket: keep the line, stop after it
                if k < len(lines) - 1:
                    return pos + len(line)
                if pos + len(line) == len(text):
                    return None  # the last line so far: not decided yet
        pos += len(line) + 1
    return None


# Python clauses that go on with the compound statement above them (if/for/while/try).
CONTINUING_CLAUSES = ("elif ", "elif(", "else:", "except", "finally:")


def _continues_compound(line: str, language: str) -> bool:
    return language == "python" and line.strip().startswith(CONTINUING_CLAUSES)


def _next_code_line(suffix: str) -> str | None:
    """The first non-blank line after the cursor's line, if any."""
    for line in suffix.split("\n")[1:]:
        if line.strip():
            return line
    return None


def stop_at_block_end(text: str, ctx: FilterContext) -> str:
    if ctx.mode != "multi":
        return text
    cut = _block_cut(text, ctx)
    return text if cut is None else text[:cut]


def block_finished(text: str, ctx: FilterContext) -> bool:
    """True once the text generated so far has certainly left the current block."""
    if ctx.mode != "multi":
        return False
    cut = _block_cut(text, ctx)
    return cut is not None and text[cut:].strip() != ""


def _unmatched_closers(text: str, comment: str) -> int:
    return sum(1 for _ in _scan_brackets(text, comment))


def trim_suffix_overlap(text: str, ctx: FilterContext) -> str:
    if not text.strip():
        return text
    suffix = ctx.suffix
    # (c) nothing new: the suggestion is what already follows the cursor
    if suffix.startswith(text) or (
        text.strip()
        and suffix.lstrip().startswith(text.strip())
        and "\n" not in text.strip()
        and len(text.strip()) <= len(ctx.line_suffix.strip())
    ):
        return ""
    # (b) lines equal to the first non-empty line after the cursor's line: cut there
    after = [x.strip() for x in suffix.split("\n")[1:] if x.strip()]
    lines = text.split("\n")
    if after and len(lines) > 1:
        for i in range(1, len(lines)):
            if lines[i].strip() and lines[i].strip() == after[0]:
                text = "\n".join(lines[:i])
                break
    # (a) the end of the suggestion repeats the rest of the cursor's line
    rest = ctx.line_suffix.rstrip()
    if rest.strip():
        for k in range(len(rest), 0, -1):
            overlap = rest[:k]
            if not overlap.strip() or not text.endswith(overlap):
                continue
            closers = sum(c in CLOSE for c in overlap)
            whole = k == len(rest)
            if closers and closers <= _unmatched_closers(text, ctx.comment):
                return text[: len(text) - k]
            if not closers and whole and len(overlap.strip()) >= 1 and _all_punct(overlap):
                return text[: len(text) - k]
    return text


def fit_code_after(text: str, ctx: FilterContext) -> str:
    """In front of code on the cursor's line, the suggestion fills the gap: a copy of
    that code at its end is dropped, and a suggestion that closes a bracket the code
    after it closes (so the line would end up unbalanced) is not shown."""
    rest = ctx.line_suffix.strip()
    if not _before_code(ctx) or "\n" in text:
        return text
    body = text.rstrip()
    if body.endswith(rest):
        text = body[: len(body) - len(rest)].rstrip() if body != rest else ""
        if not text.strip():
            return ""
        # keep the space the code after the cursor does not bring itself
        gap = body[len(text) : len(body) - len(rest)]
        text += gap if not ctx.line_suffix[:1].isspace() else ""
    head = ctx.prefix[-BRACKET_SCAN_CHARS:]
    alone = _unmatched_closers(head + ctx.line_suffix, ctx.comment)
    if _unmatched_closers(head + text + ctx.line_suffix, ctx.comment) > alone:
        return ""
    return text


def _all_punct(s: str) -> bool:
    return all(c in "\"'`;,:" or c.isspace() for c in s)


def drop_repeated_lines(text: str, ctx: FilterContext) -> str:
    lines = text.split("\n")
    # the suggestion starts by copying the line above the cursor
    previous = [x.strip() for x in ctx.prefix.split("\n")[:-1] if x.strip()]
    first = (ctx.line_prefix + lines[0]).strip()
    if previous and len(first) >= 6 and first == previous[-1]:
        return ""
    # the same line three or more times in a row: keep the first
    run = 1
    for i in range(1, len(lines)):
        cur = lines[i].strip()
        if cur and cur == lines[i - 1].strip() and len(cur) >= 3:
            run += 1
            if run >= 3:
                return "\n".join(lines[: i - 1])
        else:
            run = 1
    return text


# At most this many cut points are parsed (each a parse of the prompt's window).
SYNTAX_CUTS = 16


def cut_to_valid_syntax(text: str, ctx: FilterContext) -> str:
    """A multi-line suggestion keeps its longest run of whole lines after which the
    window (prefix + suggestion + suffix) has the fewest syntax errors."""
    if ctx.mode != "multi" or "\n" not in text.strip() or not has_grammar(ctx.language):
        return text
    ends: list[int] = []
    pos = 0
    for line in text.split("\n"):
        pos += len(line)
        if line.strip():
            ends.append(pos)
        pos += 1
    ends = ends[-SYNTAX_CUTS:]
    errors = [error_count(ctx.language, ctx.prefix + text[:end] + ctx.suffix) for end in ends]
    fewest = min(e for e in errors if e is not None)
    best = max(end for end, e in zip(ends, errors, strict=True) if e == fewest)
    return text if best == ends[-1] else text[:best]


def drop_unfinished_statement(text: str, ctx: FilterContext) -> str:
    """A multi-line suggestion that ends inside a bracket it opened (generation ran out
    of tokens or time mid-statement) is cut back to the last line that ends with the
    brackets as they were at the cursor."""
    if ctx.mode != "multi" or "\n" not in text:
        return text
    at_cursor = len(open_brackets(ctx.prefix, ctx.comment))
    stack = open_brackets(ctx.prefix, ctx.comment)
    last_whole = None
    pos = 0
    for line in text.split("\n"):
        for _ in _scan_brackets(line, ctx.comment, stack):
            return text  # it closes more than was open: stop_at_block_end's business
        pos += len(line)
        if len(stack) <= at_cursor:
            last_whole = pos
        pos += 1
    if len(stack) <= at_cursor or last_whole is None:
        return text
    return text[:last_whole]


def trim_trailing_whitespace(text: str, ctx: FilterContext) -> str:
    if "\n" not in text.rstrip() and _before_code(ctx):
        return text.rstrip("\r\n")  # a space before the code after the cursor is needed
    return text.rstrip()


def _before_code(ctx: FilterContext) -> bool:
    """Code (not only closers) follows the cursor on its line."""
    return any(not (c in CLOSERS_AFTER or c.isspace()) for c in ctx.line_suffix)


def drop_empty(text: str, ctx: FilterContext) -> str:
    return "" if not text.strip() else text


DEFAULT_FILTERS: tuple[tuple[str, Filter], ...] = (
    ("normalize_newlines", normalize_newlines),
    ("single_line", single_line),
    ("stop_at_block_end", stop_at_block_end),
    ("trim_suffix_overlap", trim_suffix_overlap),
    ("fit_code_after", fit_code_after),
    ("drop_repeated_lines", drop_repeated_lines),
    ("cut_to_valid_syntax", cut_to_valid_syntax),
    ("drop_unfinished_statement", drop_unfinished_statement),
    ("trim_trailing_whitespace", trim_trailing_whitespace),
    ("drop_empty", drop_empty),
)


def postprocess(raw: str, ctx: FilterContext, filters=DEFAULT_FILTERS) -> str:
    text = raw
    for _, f in filters:
        text = f(text, ctx)
    return text


def postprocess_traced(
    raw: str, ctx: FilterContext, filters=DEFAULT_FILTERS
) -> tuple[str, list[tuple[str, str, str]]]:
    text = raw
    trace = []
    for name, f in filters:
        out = f(text, ctx)
        if out != text:
            trace.append((name, text, out))
        text = out
    return text, trace
