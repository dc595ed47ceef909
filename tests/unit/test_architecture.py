"""The shape of the code, checked with the ast module (issue 13's acceptance):
no import cycle among the project's modules, no function longer than 80 lines in
the shipped packages, and the layering of DESIGN.md (engine and attribution never
import safecoder_lsp; the server never imports training)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("safecoder_lsp", "engine", "attribution", "languages", "training")
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every dotted name a module imports (absolute, with `from x import y` as x and x.y)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        names = _imported_names(tree, module, path.name == "__init__.py")
        graph[module] = {n for n in names if n in MODULES and n != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            nxt = next(edges, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_relative_imports_are_resolved():
    tree = ast.parse("from . import x\nfrom ..y import z\n")
    names = _imported_names(tree, "safecoder_lsp.lsp.server", is_package=False)
    assert {"safecoder_lsp.lsp.x", "safecoder_lsp.y.z"} <= names


def test_the_language_registry_imports_nothing_of_the_product():
    deps = _graph()["languages"]
    assert {d.split(".")[0] for d in deps} & set(PACKAGES) == set()


@pytest.mark.parametrize("library", ["engine", "attribution"])
def test_libraries_never_import_the_server(library):
    graph = _graph()
    offenders = {
        (module, dep)
        for module, deps in graph.items()
        if module.split(".")[0] == library
        for dep in deps
        if dep.split(".")[0] in ("safecoder_lsp", "training")
    }
    assert offenders == set()


# The `train` command is the one module of safecoder_lsp that runs the pipeline: it
# imports training inside its run(), and the command registry loads it by name.
TRAIN_COMMAND = "safecoder_lsp.cli.train"


def test_the_server_never_imports_training():
    graph = _graph()
    offenders = {
        (module, dep)
        for module, deps in graph.items()
        if module.startswith("safecoder_lsp") and module != TRAIN_COMMAND
        for dep in deps
        if dep.startswith("training") or dep == TRAIN_COMMAND
    }
    assert offenders == set()
    assert any(dep.startswith("training") for dep in graph[TRAIN_COMMAND])


def test_no_function_longer_than_80_lines():
    long = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{module}.{node.name}: {length} lines")
    assert long == []
