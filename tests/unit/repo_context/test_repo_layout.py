"""Snippets laid out per template: repository format, comments, or nothing."""

from __future__ import annotations

from engine.fim import CODELLAMA, QWEN, SERVER_SIDE, STARCODER, FimTemplate
from safecoder_lsp.repo_context.layout import layout
from safecoder_lsp.repo_context.select import Snippet

SNIPPETS = [
    Snippet("lib/a.py", "def alpha(x):\n    ...\n", "definition"),
    Snippet("b.py", "beta = 2", "chunk"),
]


def test_qwen_repository_format():
    block = layout(QWEN, SNIPPETS, "proj", "src/cur.py", "python")
    assert block == (
        "<|repo_name|>proj\n"
        "<|file_sep|>lib/a.py\ndef alpha(x):\n    ...\n"
        "<|file_sep|>b.py\nbeta = 2\n"
        "<|file_sep|>src/cur.py\n"
    )
    prompt = QWEN.build("import a\n", "\n", "x = ", block)
    assert prompt == block + "<|fim_prefix|>import a\n<|fim_suffix|>\n<|fim_middle|>x = "


def test_starcoder2_repository_format():
    block = layout(STARCODER, SNIPPETS[:1], "proj", "cur.py", "python")
    assert block == "<repo_name>proj<file_sep>lib/a.py\ndef alpha(x):\n    ...\n<file_sep>cur.py\n"


def test_templates_without_a_repository_format_get_comments_in_the_prefix():
    block = layout(CODELLAMA, SNIPPETS, "proj", "cur.js", "javascript")
    assert block == (
        "// path: lib/a.py\n// def alpha(x):\n//     ...\n\n// path: b.py\n// beta = 2\n\n"
    )
    prompt = CODELLAMA.build("let a;\n", "\n", "x = ", block)
    assert prompt == "<PRE> " + block + "let a;\n <SUF>\n <MID>x = "
    spm = FimTemplate("t", "[P]", "[S]", "", order="spm")
    assert spm.build("p\n", "s", "h", "# c\n") == "[S]s[P]# c\np\nh"


def test_no_snippets_or_no_comment_syntax_gives_nothing():
    assert layout(QWEN, [], "proj", "cur.py", "python") == ""
    assert layout(CODELLAMA, SNIPPETS, "proj", "notes.md", "markdown") == ""
    silent = FimTemplate("t", "<p>", "<s>", "<m>", context_comments=False)
    assert layout(silent, SNIPPETS, "proj", "cur.py", "python") == ""


def test_server_side_prompts_carry_the_snippets_in_their_cache_key():
    block = layout(SERVER_SIDE, SNIPPETS[:1], "proj", "cur.py", "python")
    assert "def alpha" in block and block.endswith("\x00Fcur.py\n")
