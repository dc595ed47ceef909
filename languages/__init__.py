"""The languages the product knows: one registry.

Each entry is an LSP language id with the file name suffixes that mean it, whether
it is code (indexed for attribution, read for repository context) or markup / data
(recognised, e.g. by ``safecoder-lsp complete FILE``, but never indexed), whether
its blocks are made by indentation, and whether ``#`` starts its comments. The
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
    code: bool = True  # False: markup or data
    indented: bool = False  # blocks by indentation (the indentation cut applies)
    hash_comment: bool = False  # "#" starts a line comment


def _lang(id_: str, *suffixes: str, **flags: bool) -> Language:
    return Language(id_, suffixes, **flags)


REGISTRY: tuple[Language, ...] = (
    _lang("python", ".py", ".pyi", indented=True, hash_comment=True),
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
    _lang("ruby", ".rb", hash_comment=True),
    _lang("php", ".php"),
    _lang("lua", ".lua"),
    _lang("shellscript", ".sh", ".bash", hash_comment=True),
    _lang("swift", ".swift"),
    _lang("scala", ".scala"),
    _lang("sql", ".sql"),
    _lang("dart", ".dart"),
    _lang("elixir", ".ex", ".exs", hash_comment=True),
    _lang("erlang", ".erl"),
    _lang("haskell", ".hs", indented=True),
    _lang("ocaml", ".ml"),
    _lang("clojure", ".clj"),
    _lang("r", ".r", hash_comment=True),
    _lang("julia", ".jl", hash_comment=True),
    _lang("vue", ".vue"),
    _lang("svelte", ".svelte"),
    _lang("zig", ".zig"),
    _lang("nim", ".nim", indented=True, hash_comment=True),
    _lang("perl", ".pl", ".pm", hash_comment=True),
    _lang("coffeescript", ".coffee", indented=True, hash_comment=True),
    _lang("fsharp", ".fs", ".fsx", indented=True),
    _lang("yaml", ".yaml", ".yml", code=False, indented=True, hash_comment=True),
    _lang("toml", ".toml", code=False, hash_comment=True),
    _lang("json", ".json", code=False),
    _lang("markdown", ".md", code=False),
    _lang("html", ".html", ".htm", code=False),
    _lang("css", ".css", code=False),
)

BY_ID: dict[str, Language] = {lang.id: lang for lang in REGISTRY}
BY_SUFFIX: dict[str, Language] = {s: lang for lang in REGISTRY for s in lang.suffixes}

#: Suffixes of code files (attribution indexes them, repository context reads them).
CODE_SUFFIXES: frozenset[str] = frozenset(
    s for lang in REGISTRY if lang.code for s in lang.suffixes
)
#: Language ids whose blocks are made by indentation.
INDENTED: frozenset[str] = frozenset(lang.id for lang in REGISTRY if lang.indented)
#: Language ids with "#" line comments ("sh" and "bash" as some clients name shell).
HASH_COMMENT: frozenset[str] = frozenset(
    [*(lang.id for lang in REGISTRY if lang.hash_comment), "sh", "bash"]
)


def language_of(path: str | PurePath) -> str:
    """The language id of a file by its name ("" when unknown)."""
    lang = BY_SUFFIX.get(PurePath(path).suffix.lower())
    return lang.id if lang else ""
