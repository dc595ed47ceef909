"""The pipeline's attribution step on a real index: matches in the code before the
cursor alone do not count, offsets are the suggestion's, and a text copied into many
projects is shown by a few references, those outside the allowlist first."""

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path

from attribution.index import Index, SourceDocument
from attribution.policy import Policy
from safecoder_lsp.completion.attribution import MAX_REFERENCES, Attributor

CODE = inspect.getsource(textwrap.TextWrapper._wrap_chunks)


def attributor(tmp_path: Path, licenses: list[str], action: str = "block") -> Attributor:
    index = Index(tmp_path / "ix.sqlite")
    for i, lic in enumerate(licenses):
        index.add_source(f"s{i}", [SourceDocument(f"org/p{i}", "wrap.py", lic, CODE)])
    return Attributor(index, Policy(("MIT",), action, "deny"))  # type: ignore[arg-type]


def test_a_copy_everywhere_is_shown_by_a_few_references_the_disallowed_first(tmp_path):
    a = attributor(tmp_path, ["MIT"] * 8 + ["GPL-3.0-only"])
    cut = len(CODE) // 2
    verdict = a.judge(CODE[:cut], CODE[cut:])
    assert verdict.blocked  # the one GPL copy among nine decides
    assert len(verdict.references) == MAX_REFERENCES
    first = verdict.references[0]
    assert (first.match.repo, first.allowed) == ("org/p8", False)
    assert all(r.allowed for r in verdict.references[1:])
    # offsets are relative to the suggestion, and within it
    assert all(0 <= r.match.start < r.match.end <= len(CODE) - cut for r in verdict.references)
    a.close()


def test_a_match_only_in_the_code_before_the_cursor_does_not_count(tmp_path):
    a = attributor(tmp_path, ["GPL-3.0-only"])
    verdict = a.judge(CODE[-300:], "\n\nx = compute_something_new(42)\n")
    assert verdict.decision == "allow" and verdict.references == ()
    a.close()
