"""completion/syntax.py: the tree-sitter grammar registry and its error count."""

from __future__ import annotations

import importlib
import logging

import pytest

from safecoder_lsp.completion import syntax


@pytest.mark.parametrize("language", sorted(syntax.GRAMMARS))
def test_every_registered_grammar_is_installed_and_parses(language):
    # pyproject.toml must carry the grammar of every entry
    importlib.import_module(syntax.GRAMMARS[language].module)
    assert syntax.has_grammar(language)
    assert syntax.error_count(language, "") == 0
    assert syntax.error_count(language, "(((") >= 1


def test_python_errors_counted():
    assert syntax.error_count("python", "def f(x):\n    return x + 1\n") == 0
    assert syntax.error_count("python", "def f(x):\n    return (x +\n") >= 1
    # tree-sitter-python accepts an empty block; Python does not
    assert syntax.error_count("python", "def f(x):\n    if x:\n\ny = 1\n") == 1
    assert syntax.error_count("python", "def f(x):\n    if x:\n        pass\n") == 0


def test_language_without_grammar():
    assert syntax.error_count("kotlin", "fun f() {") is None
    assert not syntax.has_grammar("kotlin")


def test_grammar_that_fails_to_load_is_reported_and_skipped(monkeypatch, caplog):
    # a grammar module that is not installed: a real import failure
    monkeypatch.setitem(syntax.GRAMMARS, "madeup", syntax.Grammar("tree_sitter_madeup_xyz"))
    syntax._load.cache_clear()
    with caplog.at_level(logging.WARNING, logger=syntax.__name__):
        assert syntax.error_count("madeup", "x") is None
    assert "tree_sitter_madeup_xyz" in caplog.text
    syntax._load.cache_clear()


def test_non_utf8_text_does_not_raise():
    assert syntax.error_count("python", "x = '\udcff'\n") == 0
