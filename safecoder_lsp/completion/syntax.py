"""Syntax errors in code, by tree-sitter, for the languages whose grammar is installed.

``GRAMMARS`` maps an LSP language id to the Python module of a tree-sitter grammar
from the package index (and the function in it that returns the language). Adding a
language is a line here plus the grammar in pyproject.toml; a language without a
grammar (or whose grammar fails to load) gets ``None`` from ``error_count``, and the
post-processing falls back to its indentation and bracket rules.

An error is an ERROR or MISSING node, and, where the language has no empty blocks
(Python: a ``block`` needs a statement, but its grammar accepts an empty one), a body
without statements: a suggestion that ends with ``if x:`` has not finished.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Grammar:
    module: str
    function: str = "language"
    body: str = ""  # node type of a body that must hold a statement ("" = may be empty)


GRAMMARS: dict[str, Grammar] = {
    "python": Grammar("tree_sitter_python", body="block"),
    "javascript": Grammar("tree_sitter_javascript"),
    "javascriptreact": Grammar("tree_sitter_javascript"),
    "typescript": Grammar("tree_sitter_typescript", "language_typescript"),
    "typescriptreact": Grammar("tree_sitter_typescript", "language_tsx"),
    "go": Grammar("tree_sitter_go"),
    "rust": Grammar("tree_sitter_rust"),
    "java": Grammar("tree_sitter_java"),
    "c": Grammar("tree_sitter_c"),
    "cpp": Grammar("tree_sitter_cpp"),
}


@dataclass(frozen=True)
class _Loaded:
    parser: Any  # tree_sitter.Parser
    bodies: Any  # tree_sitter.Query for Grammar.body nodes, or None


@cache
def _load(language: str) -> _Loaded | None:
    grammar = GRAMMARS.get(language)
    if grammar is None:
        return None
    try:
        import tree_sitter

        module = importlib.import_module(grammar.module)
        lang = tree_sitter.Language(getattr(module, grammar.function)())
        bodies = tree_sitter.Query(lang, f"({grammar.body}) @body") if grammar.body else None
        return _Loaded(tree_sitter.Parser(lang), bodies)
    except Exception as exc:  # a missing or broken grammar wheel: no syntax checks
        log.warning("no tree-sitter grammar for %s (%s): %s", language, grammar.module, exc)
        return None


def has_grammar(language: str) -> bool:
    return _load(language) is not None


def error_count(language: str, code: str) -> int | None:
    """How many syntax errors (ERROR and MISSING nodes) ``code`` has; None without a
    grammar for ``language``."""
    loaded = _load(language)
    if loaded is None:
        return None
    root = loaded.parser.parse(code.encode("utf-8", "surrogatepass")).root_node
    return _empty_bodies(loaded, root) + (_error_nodes(root) if root.has_error else 0)


def _empty_bodies(loaded: _Loaded, root) -> int:
    if loaded.bodies is None:
        return 0
    import tree_sitter

    found = tree_sitter.QueryCursor(loaded.bodies).captures(root).get("body", [])
    return sum(1 for node in found if node.named_child_count == 0)


def _error_nodes(root) -> int:
    count = 0
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            count += 1
        stack.extend(child for child in node.children if child.has_error or child.is_missing)
    return count
