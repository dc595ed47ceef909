"""The license policy over SPDX expressions (evaluated with license-expression)."""

from __future__ import annotations

import pytest

from attribution.index import Match
from attribution.licenses import DEFAULT_ALLOWED_LICENSES
from attribution.policy import Policy


def match(license: str, path: str = "a.py") -> Match:
    return Match("github.com/o/r", path, license, 1, 9, 0, 200, 180)


@pytest.mark.parametrize(
    ("expression", "allowed"),
    [
        ("MIT", True),
        ("mit", True),
        ("GPL-3.0-only", False),
        ("GPL-3.0", False),
        ("MIT OR GPL-3.0-only", True),
        ("MIT AND GPL-3.0-only", False),
        ("(MIT AND Apache-2.0) OR GPL-2.0-only", True),
        ("Apache-2.0 WITH LLVM-exception", True),
        ("GPL-2.0-only WITH Classpath-exception-2.0", False),
        ("BSD-3-Clause AND 0BSD AND MIT AND Zlib AND CC0-1.0", True),
    ],
)
def test_expressions(expression, allowed):
    ok, why = Policy().license_allowed(expression)
    assert ok is allowed
    assert expression in why


@pytest.mark.parametrize("expression", ["", "   ", "Foo-Bar-1", "MIT AND ("])
def test_unknown_or_invalid_licenses_follow_the_unknown_setting(expression):
    denied, why = Policy(unknown="deny").license_allowed(expression)
    assert denied is False and "denied" in why
    allowed, why = Policy(unknown="allow").license_allowed(expression)
    assert allowed is True and "allowed" in why


def test_decisions():
    mit, gpl = match("MIT", "mit.py"), match("GPL-3.0-only", "gpl.py")
    assert Policy().judge([]).decision == "allow"
    annotate = Policy(action="annotate").judge([mit, gpl])
    assert annotate.decision == "annotate" and not annotate.blocked
    assert [r.allowed for r in annotate.references] == [True, False]
    block = Policy(action="block", allowed=("MIT", "Apache-2.0")).judge([mit, gpl])
    assert block.blocked and block.references[1].why == "GPL-3.0-only is not in the allowlist"
    only_allowed = Policy(action="block").judge([mit])
    assert only_allowed.decision == "annotate" and only_allowed.references[0].allowed
    assert Policy(action="off").judge([gpl]).decision == "allow"
    narrow = Policy(allowed=("Apache-2.0",), action="block").judge([mit])
    assert narrow.blocked


def test_the_default_allowlist_is_valid_spdx():
    for license_id in DEFAULT_ALLOWED_LICENSES:
        assert Policy(allowed=(license_id,)).license_allowed(license_id)[0], license_id
