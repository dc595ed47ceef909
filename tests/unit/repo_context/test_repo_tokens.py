"""Identifier tokens and Jaccard similarity."""

from __future__ import annotations

import pytest

from safecoder_lsp.repo_context.tokens import all_identifiers, identifiers, jaccard, line_set


def test_identifiers_leave_out_keywords_and_single_letters():
    text = "def load_config(path, x):\n    return self.parse(path) if x else None\n"
    assert identifiers(text) == {"load_config", "path", "parse"}
    assert {"def", "return", "x", "self"} <= all_identifiers(text)


def test_jaccard():
    assert jaccard({"a", "b"}, {"a", "b"}) == 1.0
    assert jaccard({"a", "b"}, {"b", "c"}) == pytest.approx(1 / 3)
    assert jaccard(set(), {"a"}) == 0.0
    assert jaccard({"a"}, {"b"}) == 0.0


def test_line_set_ignores_indentation_and_blank_lines():
    assert line_set(["  x = 1\n", "\n", "x = 1", "y = 2\n"]) == frozenset({"x = 1", "y = 2"})
