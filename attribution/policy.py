"""The license policy: is a suggestion with these matches shown, annotated or blocked?

- ``allowed``: SPDX license ids (``MIT``, ``Apache-2.0``, ...). A match's license is
  an SPDX expression: ``A OR B`` is allowed when either side is, ``A AND B`` when both
  are, ``A WITH exception`` when ``A`` is.
- ``unknown``: what a match whose license is empty or not a valid SPDX expression
  counts as (``deny`` by default).
- ``action``: ``off`` (no checks), ``annotate`` (show the suggestion with its
  references; outside the allowlist they are warnings), ``block`` (a suggestion with a
  match outside the allowlist is never shown).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from attribution.index import Match
from attribution.licenses import DEFAULT_ALLOWED_LICENSES

Action = Literal["off", "annotate", "block"]
Decision = Literal["allow", "annotate", "block"]


@dataclass(frozen=True)
class Reference:
    match: Match
    allowed: bool
    why: str  # "MIT is allowed", "GPL-3.0-only is not in the allowlist", ...


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    references: tuple[Reference, ...]

    @property
    def blocked(self) -> bool:
        return self.decision == "block"


@dataclass(frozen=True)
class Policy:
    allowed: tuple[str, ...] = DEFAULT_ALLOWED_LICENSES
    action: Action = "annotate"
    unknown: Literal["allow", "deny"] = "deny"

    def license_allowed(self, expression: str) -> tuple[bool, str]:
        parsed = _parse(expression.strip()) if expression.strip() else None
        if parsed is None:
            ok = self.unknown == "allow"
            label = (
                f"license {expression!r} is not a valid SPDX expression"
                if expression.strip()
                else "the license is unknown"
            )
            return ok, f"{label}; unknown licenses are {'allowed' if ok else 'denied'}"
        keys = frozenset(_key(a) for a in self.allowed)
        ok = _evaluate(parsed, keys)
        verb = "allowed" if ok else "not in the allowlist"
        return ok, f"{expression} is {verb}"

    def judge(self, matches: Sequence[Match]) -> Verdict:
        if self.action == "off" or not matches:
            return Verdict("allow", ())
        refs = tuple(Reference(m, *self.license_allowed(m.license)) for m in matches)
        if self.action == "block" and not all(r.allowed for r in refs):
            return Verdict("block", refs)
        return Verdict("annotate", refs)


@lru_cache(maxsize=1)
def _licensing():
    from license_expression import get_spdx_licensing

    return get_spdx_licensing()


@lru_cache(maxsize=4096)
def _parse(expression: str):
    from license_expression import ExpressionError

    licensing = _licensing()
    try:
        parsed = licensing.parse(expression, validate=True)
    except (ExpressionError, ValueError, TypeError):
        return None
    return parsed


def _key(license_id: str) -> str:
    parsed = _parse(license_id)
    if parsed is None or not hasattr(parsed, "key"):
        return license_id.strip().lower()
    return parsed.key.lower()


def _evaluate(node, allowed: frozenset[str]) -> bool:
    name = type(node).__name__
    if name == "OR":
        return any(_evaluate(a, allowed) for a in node.args)
    if name == "AND":
        return all(_evaluate(a, allowed) for a in node.args)
    if name == "LicenseWithExceptionSymbol":
        return node.license_symbol.key.lower() in allowed
    return getattr(node, "key", "").lower() in allowed
