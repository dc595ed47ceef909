"""Top-level definitions of a file: the signature and docstring of each function and
class (not whole bodies), by name. Python through ``ast``; other languages by a
regular expression over lines that start a definition at column 0, with the comment
lines just above them as their documentation."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

MAX_LINES = 12  # of one definition's text
MAX_CHARS = 800
DOC_LINES = 4  # of a docstring or doc comment
METHODS = 8  # method signatures kept for a class


@dataclass(frozen=True)
class Definition:
    name: str
    path: str
    line: int  # 0-based
    text: str  # signature (and docstring / method signatures), ending with a line break


def _cut(text: str) -> str:
    lines = text.splitlines()[:MAX_LINES]
    out = "\n".join(lines)[:MAX_CHARS]
    return out.rstrip() + "\n"


def _header(lines: list[str], node: ast.AST) -> list[str]:
    """The source lines from the first decorator through the end of the signature."""
    decorators = [d.lineno for d in getattr(node, "decorator_list", [])]
    first = min([*decorators, node.lineno]) - 1  # type: ignore[attr-defined]
    body = getattr(node, "body", None)
    last = body[0].lineno - 1 if body else node.lineno  # type: ignore[attr-defined]
    last = max(last, node.lineno)  # type: ignore[attr-defined]  # a body on the def's line
    return [h.rstrip("\n").rstrip() for h in lines[first:last] if h.strip()]


def _docstring(node: ast.AST, indent: str) -> list[str]:
    doc = ast.get_docstring(node, clean=True)  # type: ignore[arg-type]
    if not doc:
        return []
    body = doc.strip().splitlines()[:DOC_LINES]
    if len(body) == 1:
        return [f'{indent}"""{body[0]}"""']
    return [
        f'{indent}"""{body[0]}',
        *(f"{indent}{b}" if b else "" for b in body[1:]),
        f'{indent}"""',
    ]


def _python_def(lines: list[str], node: ast.AST, path: str) -> Definition:
    head = _header(lines, node)
    indent = "    "
    out = list(head) + _docstring(node, indent)
    if isinstance(node, ast.ClassDef):
        methods = [n for n in node.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)][
            :METHODS
        ]
        for m in methods:
            out.extend(_header(lines, m))
            out.append(indent * 2 + "...")
    else:
        out.append(indent + "...")
    return Definition(node.name, path, node.lineno - 1, _cut("\n".join(out)))  # type: ignore[attr-defined]


def python_definitions(path: str, text: str) -> list[Definition]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return regex_definitions(path, text)
    lines = text.splitlines(keepends=True)
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return [_python_def(lines, n, path) for n in tree.body if isinstance(n, kinds)]


# A definition at column 0 in C-like languages, Go, Rust, Ruby, Lua, shell.
_DEF = re.compile(
    r"^(?:export\s+)?(?:default\s+)?(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?(?:unsafe\s+)?"
    r"(?:function\*?|class|interface|struct|enum|trait|type|fn|func|def|local\s+function)"
    r"\s+(?:\([^)]*\)\s*)?([A-Za-z_$][\w$]*)"
    r"|^(?:public|private|protected|static|final|abstract|inline|extern|const|unsigned|"
    r"[A-Za-z_][\w:<>,\s\*&]*?)\s+\**([A-Za-z_]\w*)\s*\([^;]*$"
)
_COMMENT = re.compile(r"^\s*(//|#|--|\*|/\*\*?|\*/)")
_NOT_NAMES = frozenset({"if", "for", "while", "switch", "return", "else", "sizeof"})


def _doc_above(lines: list[str], i: int) -> list[str]:
    out: list[str] = []
    j = i - 1
    while j >= 0 and len(out) < DOC_LINES and _COMMENT.match(lines[j]) and lines[j].strip():
        out.insert(0, lines[j].rstrip())
        j -= 1
    return out


def _signature(lines: list[str], i: int) -> list[str]:
    """The definition's line and, while brackets stay open, the lines after it."""
    out: list[str] = []
    depth = 0
    for line in lines[i : i + MAX_LINES]:
        out.append(line.rstrip())
        depth += line.count("(") - line.count(")")
        if depth <= 0:
            break
    return out


def regex_definitions(path: str, text: str) -> list[Definition]:
    lines = text.splitlines()
    out: list[Definition] = []
    for i, line in enumerate(lines):
        if not line or line[0].isspace():
            continue
        m = _DEF.match(line)
        name = m and (m.group(1) or m.group(2))
        if not name or name in _NOT_NAMES:
            continue
        body = _doc_above(lines, i) + _signature(lines, i)
        out.append(Definition(name, path, i, _cut("\n".join(body))))
    return out


def definitions(path: str, text: str, language: str = "") -> list[Definition]:
    """The top-level definitions in ``text`` (``language`` or the path picks the way)."""
    if language == "python" or path.endswith((".py", ".pyi")):
        return python_definitions(path, text)
    return regex_definitions(path, text)
