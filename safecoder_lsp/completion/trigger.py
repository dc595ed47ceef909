"""Should we complete here, and how much: none, a single line, or several lines.

- none: the cursor is inside a word, or inside a comment/string when the user
  turned those off;
- single, always: in front of code (anything after the cursor on its line but
  whitespace, closing brackets, quotes, ``;`` and ``,``): the suggestion fills the
  gap and must fit the code after it (post-processing trims what repeats it);
- multi (with ``multiline = auto``): the line is blank so far, or it ends with a
  block opener (``:`` in Python, ``{`` ``(`` ``[`` and ``=>`` elsewhere);
- single otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from languages import DEFAULT_COMMENT, comment_of

CLOSERS_AFTER_CURSOR = set(")]}>\"'`;,: \t")


@dataclass(frozen=True)
class TriggerDecision:
    mode: Literal["none", "single", "multi"]
    reason: str


def comment_markers(language: str) -> tuple[str, ...]:
    return (comment_of(language) or DEFAULT_COMMENT,)


def _scan_line(line_prefix: str, language: str) -> tuple[bool, str]:
    """(a line comment starts before the cursor, the quote open at the cursor or "")."""
    markers = comment_markers(language)
    quote = ""
    i = 0
    while i < len(line_prefix):
        c = line_prefix[i]
        if quote:
            if c == "\\":
                i += 2
                continue
            if c == quote:
                quote = ""
        elif c in "\"'`":
            quote = c
        elif any(line_prefix.startswith(m, i) for m in markers):
            return True, ""
        i += 1
    return False, quote


def in_comment(line_prefix: str, language: str) -> bool:
    """True when the cursor is after a line-comment marker that is not inside a string."""
    return _scan_line(line_prefix, language)[0]


def in_string(line_prefix: str, prefix_tail: str, language: str) -> bool:
    """True when an unclosed quote precedes the cursor on its line (or a Python
    triple-quoted string is open in ``prefix_tail``)."""
    if language == "python":
        for triple in ('"""', "'''"):
            if prefix_tail.count(triple) % 2 == 1:
                return True
    return bool(_scan_line(line_prefix, language)[1])


def opens_block(line_prefix: str, language: str) -> bool:
    text = line_prefix.rstrip()
    if not text:
        return False
    if language == "python":
        return text.endswith((":", "(", "[", "{"))
    return text.endswith(("{", "(", "[", "=>"))


def should_complete(
    line_prefix: str,
    line_suffix: str,
    language: str,
    *,
    multiline: str = "auto",
    skip_in_comments: bool = False,
    skip_in_strings: bool = False,
    prefix_tail: str = "",
) -> TriggerDecision:
    if line_suffix and (line_suffix[0].isalnum() or line_suffix[0] == "_"):
        return TriggerDecision("none", "cursor inside a word")
    before_code = any(c not in CLOSERS_AFTER_CURSOR for c in line_suffix)
    if skip_in_comments and in_comment(line_prefix, language):
        return TriggerDecision("none", "inside a comment")
    if skip_in_strings and in_string(line_prefix, prefix_tail, language):
        return TriggerDecision("none", "inside a string")
    if before_code:
        return TriggerDecision("single", "in front of code on this line")
    if multiline == "never":
        return TriggerDecision("single", "multi-line suggestions are off")
    if multiline == "always":
        return TriggerDecision("multi", "multi-line suggestions always on")
    if not line_prefix.strip():
        return TriggerDecision("multi", "blank line")
    if opens_block(line_prefix, language):
        return TriggerDecision("multi", "after a block opener")
    return TriggerDecision("single", "inside a line")
