"""The languages the product knows: one registry.

Each entry is an LSP language id with the file name suffixes that mean it, whether
it is code (indexed for attribution, read for repository context) or markup / data
(recognised, e.g. by ``safecoder-lsp complete FILE``, but never indexed), whether
its blocks are made by indentation, and what starts a line comment. The
suffix lists of the attribution indexer and the repository-context reader, the
file-to-language guess of the CLI and the language sets of the post-processing
filters all come from here: adding a language is one line below.

Imports nothing of the product (attribution, engine and safecoder_lsp all use it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath


@dataclass(frozen=True)
class Language:
    id: str  # the LSP language id
    suffixes: tuple[str, ...]  # lower case, with the dot; the first is the usual one
    comment: str = "//"  # what starts a line comment ("": the language has none)
    code: bool = True  # False: markup or data
    indented: bool = False  # blocks by indentation (the indentation cut applies)


def _lang(id_: str, *suffixes: str, comment: str = "//", **flags: bool) -> Language:
    return Language(id_, suffixes, comment, **flags)


HASH, DASHES = "#", "--"

REGISTRY: tuple[Language, ...] = (
    _lang("python", ".py", ".pyi", comment=HASH, indented=True),
    _lang("javascript", ".js", ".mjs", ".cjs"),
    _lang("javascriptreact", ".jsx"),
    _lang("typescript", ".ts", ".mts", ".cts"),
    _lang("typescriptreact", ".tsx"),
    _lang("go", ".go"),
    _lang("rust", ".rs"),
    _lang("c", ".c", ".h"),
    _lang("cpp", ".cpp", ".cc", ".cxx", ".hpp", ".hh"),
    _lang("objective-c", ".m"),
    _lang("objective-cpp", ".mm"),
    _lang("java", ".java"),
    _lang("kotlin", ".kt", ".kts"),
    _lang("csharp", ".cs"),
    _lang("ruby", ".rb", comment=HASH),
    _lang("php", ".php"),
    _lang("lua", ".lua", comment=DASHES),
    _lang("shellscript", ".sh", ".bash", comment=HASH),
    _lang("swift", ".swift"),
    _lang("scala", ".scala"),
    _lang("sql", ".sql", comment=DASHES),
    _lang("dart", ".dart"),
    _lang("elixir", ".ex", ".exs", comment=HASH),
    _lang("erlang", ".erl", comment="%"),
    _lang("haskell", ".hs", comment=DASHES, indented=True),
    _lang("ada", ".adb", ".ads", comment=DASHES),
    _lang("ocaml", ".ml", comment=""),
    _lang("clojure", ".clj", comment=";"),
    _lang("r", ".r", comment=HASH),
    _lang("julia", ".jl", comment=HASH),
    _lang("vue", ".vue"),
    _lang("svelte", ".svelte"),
    _lang("zig", ".zig"),
    _lang("nim", ".nim", comment=HASH, indented=True),
    _lang("perl", ".pl", ".pm", comment=HASH),
    _lang("coffeescript", ".coffee", comment=HASH, indented=True),
    _lang("fsharp", ".fs", ".fsx", indented=True),
    _lang("dockerfile", ".dockerfile", comment=HASH, code=False),
    _lang("makefile", ".mk", comment=HASH, code=False),
    _lang("yaml", ".yaml", ".yml", comment=HASH, code=False, indented=True),
    _lang("toml", ".toml", comment=HASH, code=False),
    _lang("json", ".json", comment="", code=False),
    _lang("markdown", ".md", comment="", code=False),
    _lang("html", ".html", ".htm", comment="", code=False),
    _lang("css", ".css", comment="", code=False),
)

BY_ID: dict[str, Language] = {lang.id: lang for lang in REGISTRY}
BY_SUFFIX: dict[str, Language] = {s: lang for lang in REGISTRY for s in lang.suffixes}

#: Suffixes of code files (attribution indexes them, repository context reads them).
CODE_SUFFIXES: frozenset[str] = frozenset(
    s for lang in REGISTRY if lang.code for s in lang.suffixes
)
#: Language ids whose blocks are made by indentation.
INDENTED: frozenset[str] = frozenset(lang.id for lang in REGISTRY if lang.indented)
#: Line comment markers by language id ("sh" and "bash": what some clients call shell).
LINE_COMMENT: dict[str, str] = {
    **{lang.id: lang.comment for lang in REGISTRY if lang.comment},
    "sh": HASH,
    "bash": HASH,
}
DEFAULT_COMMENT = "//"  # for a language id the registry does not know


def comment_of(language: str) -> str:
    """The line comment marker of ``language`` ("//" when unknown, "" when it has none)."""
    lang = BY_ID.get(language)
    return lang.comment if lang else LINE_COMMENT.get(language, DEFAULT_COMMENT)


def language_of(path: str | PurePath) -> str:
    """The language id of a file by its name ("" when unknown)."""
    lang = BY_SUFFIX.get(PurePath(path).suffix.lower())
    return lang.id if lang else ""
