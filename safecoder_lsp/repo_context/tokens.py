"""Identifier tokens of code, and the Jaccard similarity of token sets."""

from __future__ import annotations

import re
from collections.abc import Iterable

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Words so common in code that they say nothing about what it is about.
STOPWORDS = frozenset(
    [
        "and",
        "as",
        "assert",
        "async",
        "await",
        "break",
        "case",
        "catch",
        "class",
        "const",
        "continue",
        "def",
        "default",
        "del",
        "do",
        "elif",
        "else",
        "enum",
        "except",
        "export",
        "extends",
        "false",
        "final",
        "finally",
        "fn",
        "for",
        "from",
        "func",
        "function",
        "go",
        "if",
        "impl",
        "import",
        "in",
        "interface",
        "is",
        "let",
        "match",
        "mut",
        "new",
        "nil",
        "none",
        "not",
        "null",
        "or",
        "package",
        "pass",
        "pub",
        "private",
        "protected",
        "public",
        "raise",
        "return",
        "self",
        "static",
        "struct",
        "super",
        "switch",
        "this",
        "throw",
        "true",
        "try",
        "type",
        "use",
        "var",
        "void",
        "while",
        "with",
        "yield",
        "int",
        "str",
        "bool",
        "float",
        "string",
        "char",
        "long",
    ]
)


def identifiers(text: str) -> set[str]:
    """The distinct identifiers in ``text`` that carry meaning (no keywords, no
    single letters)."""
    return {w for w in _IDENT.findall(text) if len(w) > 1 and w.lower() not in STOPWORDS}


def all_identifiers(text: str) -> set[str]:
    """Every distinct identifier in ``text`` (for looking names up)."""
    return set(_IDENT.findall(text))


def jaccard(a: set[str] | frozenset[str], b: set[str] | frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    common = len(a & b) if len(a) < len(b) else len(b & a)
    return common / (len(a) + len(b) - common)


def line_set(lines: Iterable[str]) -> frozenset[str]:
    """The distinct non-blank lines (stripped), for near-duplicate detection."""
    return frozenset(s for s in (line.strip() for line in lines) if s)
