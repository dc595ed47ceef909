"""The attribution step of the pipeline: a suggestion, read in the context of the code
before it, checked against the index and the license policy.

The query is the end of the prefix plus the suggestion, and a match counts when it
reaches into the suggestion: a suggestion that continues a copy of licensed code is
attributed even when the suggestion alone is shorter than the match threshold.
The verdict weighs every match; at most ``MAX_REFERENCES`` are passed on to be shown
(those outside the allowlist first).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from attribution.index import AttributionError, Index
from attribution.policy import Policy, Verdict

CONTEXT_CHARS = 300
MAX_REFERENCES = 5  # shown per suggestion: code copied everywhere would flood the editor


class Attributor:
    def __init__(self, index: Index, policy: Policy, context_chars: int = CONTEXT_CHARS) -> None:
        self.index = index
        self.policy = policy
        self.context_chars = context_chars

    @classmethod
    def open(cls, path: str, policy: Policy) -> Attributor:
        """The index at ``path`` (which must exist: it is never created here)."""
        if not Path(path).is_file():
            raise AttributionError(
                f"attribution.index {path} does not exist; suggestions are not checked.",
                "Build it with `safecoder-lsp attribution build SOURCE... --index "
                f"{path}`, or clear attribution.index.",
            )
        return cls(Index(path, create=False), policy)

    def judge(self, prefix: str, suggestion: str) -> Verdict:
        head = prefix[-self.context_chars :]
        matches = []
        for m in self.index.query(head + suggestion):
            if m.end <= len(head):
                continue  # only in the code before the cursor: not the suggestion's doing
            matches.append(
                dataclasses.replace(m, start=max(0, m.start - len(head)), end=m.end - len(head))
            )
        verdict = self.policy.judge(matches)
        # the decision saw every match; the user is shown the ones outside the
        # allowlist first, then the longest
        shown = sorted(verdict.references, key=lambda r: (r.allowed, -r.match.length))
        return dataclasses.replace(verdict, references=tuple(shown[:MAX_REFERENCES]))

    def close(self) -> None:
        self.index.close()
