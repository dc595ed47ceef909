"""Laying snippets out for a FIM template: in the model's repository format where it
has one (Qwen2.5-Coder: ``<|repo_name|>NAME\\n<|file_sep|>path\\n<code>`` per file,
then ``<|file_sep|>current path\\n`` before the FIM prompt), else as comments at the
start of the prefix (``# path: a.py`` and the code commented out), else nothing."""

from __future__ import annotations

from collections.abc import Sequence

from engine.fim import FimTemplate
from languages import LINE_COMMENT
from safecoder_lsp.repo_context.select import Snippet


def _ended(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def repo_layout(template: FimTemplate, snippets: Sequence[Snippet], repo: str, path: str) -> str:
    header = template.repo_header.replace("{name}", repo)
    files = "".join(
        template.file_header.replace("{path}", s.path) + _ended(s.text) for s in snippets
    )
    return header + files + template.file_header.replace("{path}", path)


def comment_layout(snippets: Sequence[Snippet], marker: str) -> str:
    out: list[str] = []
    for s in snippets:
        out.append(f"{marker} path: {s.path}\n")
        out.extend(f"{marker} {line}".rstrip() + "\n" for line in s.text.splitlines())
        out.append("\n")
    return "".join(out)


def layout(
    template: FimTemplate, snippets: Sequence[Snippet], repo: str, path: str, language: str
) -> str:
    """The text that goes into the prompt for ``snippets`` ("" when none)."""
    if not snippets:
        return ""
    if template.repo_format:
        return repo_layout(template, snippets, repo, path)
    marker = LINE_COMMENT.get(language)  # none: no comment snippets
    if template.context_comments and marker:
        return comment_layout(snippets, marker)
    return ""
