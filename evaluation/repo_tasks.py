"""Repository-level completion tasks, built from one project's files (the repository
benchmark in bench/ and `train eval` on a dataset's held-out files).

Pure: the input is ``{relative_path: text}`` of one project, the output a seeded,
deterministic list of tasks. Three kinds:

- ``line``: a whole line is hidden; the cursor stands at its indentation (typed).
- ``midline``: a line is cut where a Python token starts (not before its second
  token, nor where only punctuation such as ``,`` or ``):`` would be left); the start
  of the line is typed, the rest of the line is hidden.
- ``block``: the body (one to three statements) of a block whose header line ends
  with ``:``; the cursor stands on an empty line with the body's indentation typed.

Left out: blank lines, comments and lines with a trailing comment, lines of
docstrings and other multi-line strings, lines with fewer than ``MIN_CODE`` characters
of code, and trivial lines (``pass``, a bare ``return``, ``break``, ...). Each task
names up to three other files of the project to open with it: the project files it
imports first, in import order, then files of its own folder.
"""

from __future__ import annotations

import ast
import io
import random
import re
import tokenize
from dataclasses import dataclass, field

KINDS = ("line", "midline", "block")
MIN_CODE = 8  # characters of code a hidden line must have
MIN_HIDDEN = 3  # characters (no spaces) the hidden rest of a cut line must have
MAX_BLOCK_LINES = 12
MAX_STATEMENTS = 3
OTHER_FILES = 3
TRIVIAL = re.compile(
    r"(pass|return|return None|break|continue|\.\.\.|else:|try:|finally:|raise)\s*;?"
)
COMPOUND = {
    "def",
    "class",
    "if",
    "elif",
    "else",
    "for",
    "while",
    "with",
    "try",
    "except",
    "finally",
    "async",
    "match",
    "case",
}
LAYOUT_TOKENS = {
    tokenize.NEWLINE,
    tokenize.NL,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.COMMENT,
    tokenize.ENDMARKER,
}


@dataclass(frozen=True)
class RepoTask:
    project: str
    path: str  # relative to the project's root
    kind: str
    line: int  # 0-based line of the cursor
    prefix: str  # the file's text before the cursor (what is typed of the line included)
    suffix: str  # the file's text after the hole (a whole-line hole: from its newline)
    middle: str  # the hidden text
    others: tuple[str, ...] = ()  # other files of the project to open with it
    split: str = "tune"

    @property
    def task_id(self) -> str:
        return f"{self.project}/{self.path}:{self.line + 1}:{self.kind}"

    @property
    def column(self) -> int:
        return len(self.prefix) - (self.prefix.rfind("\n") + 1)


@dataclass
class _Logical:
    """One logical line: its rows (1-based, inclusive) and its code tokens."""

    first: int
    last: int
    tokens: list[tokenize.TokenInfo] = field(default_factory=list)

    @property
    def only_string(self) -> bool:
        return all(t.type == tokenize.STRING for t in self.tokens)


@dataclass
class _Source:
    """A file's lines and what tokenizing it says about them."""

    text: str
    lines: list[str]  # without their newlines
    starts: list[int]  # offset of each line (0-based index)
    logicals: list[_Logical]
    row_logical: dict[int, _Logical]  # 1-based row -> its logical line
    string_rows: set[int]  # rows of multi-line strings
    comment_rows: set[int]
    token_cols: dict[int, list[int]]  # 1-based row -> columns where code tokens start


def _analyse(text: str) -> _Source | None:
    text = text.replace("\r\n", "\n")
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    lines = text.split("\n")
    starts, at = [], 0
    for line in lines:
        starts.append(at)
        at += len(line) + 1
    logicals: list[_Logical] = []
    current: _Logical | None = None
    strings: set[int] = set()
    comments: set[int] = set()
    cols: dict[int, list[int]] = {}
    for tok in tokens:
        if tok.type == tokenize.COMMENT:
            comments.add(tok.start[0])
        if tok.type not in (tokenize.NEWLINE, tokenize.NL) and tok.end[0] > tok.start[0]:
            strings.update(range(tok.start[0], tok.end[0] + 1))  # multi-line strings
        if tok.type in LAYOUT_TOKENS:
            if tok.type == tokenize.NEWLINE and current is not None:
                logicals.append(current)
                current = None
            continue
        cols.setdefault(tok.start[0], []).append(tok.start[1])
        if current is None:
            current = _Logical(tok.start[0], tok.end[0])
        current.last = max(current.last, tok.end[0])
        current.tokens.append(tok)
    if current is not None:
        logicals.append(current)
    row_logical = {r: lg for lg in logicals for r in range(lg.first, lg.last + 1)}
    return _Source(text, lines, starts, logicals, row_logical, strings, comments, cols)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _hideable(src: _Source, row: int) -> bool:
    """Row ``row`` (1-based) may be hidden as a line or cut mid-line."""
    line = src.lines[row - 1]
    code = line.strip()
    logical = src.row_logical.get(row)
    if logical is None or logical.only_string:
        return False
    if row in src.string_rows or row in src.comment_rows:
        return False
    return len(code) >= MIN_CODE and not TRIVIAL.fullmatch(code)


def _task(src: _Source, row: int, typed: int, last: int, kind: str) -> tuple[str, str, str]:
    """(prefix, middle, suffix): rows ``row``..``last`` (1-based) hidden from column
    ``typed`` of the first on (the text before it typed)."""
    begin = src.starts[row - 1] + typed
    end = src.starts[last - 1] + len(src.lines[last - 1])
    middle = "\n".join(x.rstrip() for x in src.text[begin:end].split("\n"))
    return src.text[:begin], middle, src.text[end:]


def line_candidates(src: _Source) -> list[int]:
    return [r for r in range(1, len(src.lines) + 1) if _hideable(src, r)]


def worth_hiding(rest: str) -> bool:
    """The rest of a cut line is more than punctuation: at least ``MIN_HIDDEN``
    characters besides spaces, a letter, digit or quote among them."""
    code = "".join(rest.split())
    return len(code) >= MIN_HIDDEN and any(c.isalnum() or c in "\"'_" for c in code)


def token_cuts(src: _Source, row: int) -> list[int]:
    """Columns of row ``row`` where a code token starts, after the row's first token,
    with more than punctuation after them."""
    line = src.lines[row - 1]
    return [c for c in src.token_cols.get(row, [])[1:] if worth_hiding(line[c:])]


def _block_body(src: _Source, k: int) -> tuple[int, int] | None:
    """The first and last row of the body of the block that logical line ``k`` opens,
    when it is one to three statements (not a docstring, not only trivial lines, no
    comments)."""
    header = src.logicals[k]
    if header.tokens[0].string not in COMPOUND or header.tokens[-1].string != ":":
        return None
    if k + 1 >= len(src.logicals):
        return None
    head_indent = _indent(src.lines[header.first - 1])
    body = src.logicals[k + 1]
    depth = _indent(src.lines[body.first - 1])
    if body.first != header.last + 1 or depth <= head_indent or body.only_string:
        return None
    statements, last = [], body.last
    for lg in src.logicals[k + 1 :]:
        ind = _indent(src.lines[lg.first - 1])
        if ind <= head_indent:
            break
        if ind == depth:
            statements.append(lg)
        last = lg.last
    rows = range(body.first, last + 1)
    if len(statements) > MAX_STATEMENTS or len(rows) > MAX_BLOCK_LINES:
        return None
    if any(r in src.comment_rows for r in rows):
        return None
    if all(TRIVIAL.fullmatch(src.lines[s.first - 1].strip()) for s in statements):
        return None
    return body.first, last


def block_candidates(src: _Source) -> list[tuple[int, int]]:
    bodies = (_block_body(src, k) for k in range(len(src.logicals)))
    return [b for b in bodies if b is not None]


def _candidates(src: _Source, kind: str) -> list[tuple[int, int]]:
    if kind == "block":
        return block_candidates(src)
    rows = line_candidates(src)
    if kind == "midline":
        rows = [r for r in rows if token_cuts(src, r)]
    return [(r, r) for r in rows]


def build_tasks(
    project: str,
    files: dict[str, str],
    kinds: tuple[str, ...] = KINDS,
    per_kind: int = 50,
    seed: int = 0,
    split: str = "tune",
) -> list[RepoTask]:
    """Up to ``per_kind`` tasks of each kind from ``files``, drawn with a seeded
    generator (the same tasks on every machine), in file and line order per kind;
    ``split`` names the set they belong to (the benchmark's split of projects)."""
    sources = {p: s for p in sorted(files) if (s := _analyse(files[p])) is not None}
    keys = _module_keys(files)
    others: dict[str, tuple[str, ...]] = {}
    tasks: list[RepoTask] = []
    for kind in kinds:
        rng = random.Random(f"{project}:{kind}:{seed}")
        pool = [(p, c) for p, src in sources.items() for c in _candidates(src, kind)]
        picked = sorted(rng.sample(pool, min(per_kind, len(pool))))
        for path, (first, last) in picked:
            src = sources[path]
            line = src.lines[first - 1]
            typed = _indent(line)
            if kind == "midline":
                typed = rng.choice(token_cuts(src, first))
            prefix, middle, suffix = _task(src, first, typed, last, kind)
            if path not in others:
                others[path] = other_files(path, files, keys=keys)
            tasks.append(
                RepoTask(
                    project,
                    path,
                    kind,
                    first - 1,
                    prefix,
                    suffix,
                    middle,
                    others[path],
                    split,
                )
            )
    return tasks


# -- other files to open -------------------------------------------------------------


def _module_keys(files: dict[str, str]) -> dict[str, list[str]]:
    """Dotted module names (every tail of the path: ``src.pkg.mod``, ``pkg.mod``,
    ``mod``) -> the files that may be them."""
    keys: dict[str, list[str]] = {}
    for path in sorted(files):
        if not path.endswith(".py"):
            continue
        parts = path[:-3].split("/")
        if parts[-1] == "__init__":
            parts = parts[:-1]
        for i in range(len(parts)):
            keys.setdefault(".".join(parts[i:]), []).append(path)
    return keys


def _package_parts(path: str) -> list[str]:
    """The package a file is in, as path parts."""
    return path.split("/")[:-1]


def _imported_modules(path: str, text: str) -> list[tuple[list[str] | None, str]]:
    """(package parts for a relative import else None, dotted name), in source order;
    for ``from m import a`` both ``m.a`` and ``m``."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    nodes = sorted(
        (n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)),
        key=lambda n: (n.lineno, n.col_offset),
    )
    out: list[tuple[list[str] | None, str]] = []
    for node in nodes:
        if isinstance(node, ast.Import):
            out += [(None, a.name) for a in node.names]
            continue
        base = None
        if node.level:
            pkg = _package_parts(path)
            base = pkg[: len(pkg) - (node.level - 1)] if node.level > 1 else pkg
        module = node.module or ""
        for alias in node.names:
            out.append((base, f"{module}.{alias.name}" if module else alias.name))
        if module:
            out.append((base, module))
    return out


def _resolve(
    files: dict[str, str], keys: dict[str, list[str]], base: list[str] | None, name: str
) -> str | None:
    if base is not None:
        stem = "/".join([*base, *name.split(".")])
        for cand in (f"{stem}.py", f"{stem}/__init__.py"):
            if cand in files:
                return cand
        return None
    found = keys.get(name, [])
    return found[0] if len(found) == 1 else None


def other_files(
    path: str,
    files: dict[str, str],
    n: int = OTHER_FILES,
    keys: dict[str, list[str]] | None = None,
) -> tuple[str, ...]:
    """Up to ``n`` other files of the project to open with ``path``: the project files
    it imports (in import order), then the files of its folder (by name). ``keys``:
    ``_module_keys(files)``, when the caller has it."""
    keys = keys if keys is not None else _module_keys(files)
    chosen: list[str] = []
    for base, name in _imported_modules(path, files[path]):
        found = _resolve(files, keys, base, name)
        if found and found != path and found not in chosen:
            chosen.append(found)
    folder = path.rsplit("/", 1)[0] if "/" in path else ""
    for other in sorted(files):
        in_folder = (other.rsplit("/", 1)[0] if "/" in other else "") == folder
        if in_folder and other != path and other not in chosen:
            chosen.append(other)
    return tuple(chosen[:n])
