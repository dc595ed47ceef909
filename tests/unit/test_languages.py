"""The language registry (languages/): what the indexer, the repository-context
reader, the CLI and the post-processing filters derive from it."""

from __future__ import annotations

import languages
from attribution import sources
from safecoder_lsp.completion import postprocess, trigger
from safecoder_lsp.repo_context import layout, workspace
from safecoder_lsp.repo_context.select import Snippet


def test_every_suffix_names_one_language_and_is_lower_case_with_a_dot():
    seen: dict[str, str] = {}
    for lang in languages.REGISTRY:
        assert lang.suffixes, lang.id
        for suffix in lang.suffixes:
            assert suffix.startswith(".") and suffix == suffix.lower(), suffix
            assert suffix not in seen, f"{suffix} is {seen.get(suffix)} and {lang.id}"
            seen[suffix] = lang.id
    assert len(languages.BY_ID) == len(languages.REGISTRY)


def test_language_of_a_file_name():
    assert languages.language_of("src/app.PY") == "python"
    assert languages.language_of("a/b/c.tsx") == "typescriptreact"
    assert languages.language_of("include/x.h") == "c"
    assert languages.language_of("config.yml") == "yaml"
    assert languages.language_of("Makefile") == ""
    assert languages.language_of("notes.unknown") == ""


def test_code_suffixes_leave_out_markup_and_data():
    assert {".py", ".go", ".rs", ".java", ".vue"} <= languages.CODE_SUFFIXES
    assert not {".md", ".json", ".yaml", ".toml", ".html"} & languages.CODE_SUFFIXES


def test_the_indexer_and_the_context_reader_read_the_same_files():
    assert sources.CODE_SUFFIXES is languages.CODE_SUFFIXES
    assert workspace.CODE_SUFFIXES is languages.CODE_SUFFIXES


def test_comment_markers():
    assert languages.comment_of("python") == "#"
    assert languages.comment_of("lua") == "--"
    assert languages.comment_of("go") == "//"
    assert languages.comment_of("bash") == "#"  # what some clients call shell
    assert languages.comment_of("json") == ""  # none
    assert languages.comment_of("brainfuck") == languages.DEFAULT_COMMENT
    assert "json" not in languages.LINE_COMMENT


def test_the_filters_trigger_and_context_layout_take_comments_from_the_registry():
    def ctx(language: str) -> postprocess.FilterContext:
        return postprocess.FilterContext(prefix="", suffix="", language=language)

    assert ctx("python").comment == "#"
    assert ctx("sql").comment == "--"
    assert ctx("json").comment == "//"  # never empty: it is searched for in code
    assert trigger.in_comment("x = 1  # note ", "python")
    assert trigger.in_comment("local x = 1 -- note ", "lua")
    assert not trigger.in_comment("x = 1  # note ", "go")
    snippet = Snippet(path="lib/a.lua", text="local y = 2\n", kind="chunk")
    assert layout.comment_layout([snippet], languages.LINE_COMMENT["lua"]).startswith("-- ")


def test_indentation_languages():
    assert "python" in languages.INDENTED and "yaml" in languages.INDENTED
    assert "javascript" not in languages.INDENTED
