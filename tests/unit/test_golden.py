"""Golden data-file tests: post-processing filters and the completion trigger.

Each JSON file under tests/golden/<area>/ holds {"about": ..., "cases": [...]}; a
case names what it checks. Add a case by adding a line of data, not code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from safecoder_lsp.completion.postprocess import FilterContext, postprocess, postprocess_traced
from safecoder_lsp.completion.trigger import should_complete

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def load(area: str) -> list:
    cases = []
    for path in sorted((GOLDEN / area).glob("*.json")):
        for case in json.loads(path.read_text(encoding="utf-8"))["cases"]:
            cases.append(pytest.param(case, id=f"{path.stem}: {case['name']}"))
    assert cases, f"no golden cases under {GOLDEN / area}"
    return cases


@pytest.mark.parametrize("case", load("postprocess"))
def test_postprocess(case):
    ctx = FilterContext(
        prefix=case["prefix"],
        suffix=case["suffix"],
        language=case.get("language", "python"),
        mode=case.get("mode", "multi"),
    )
    out, trace = postprocess_traced(case["raw"], ctx)
    steps = [name for name, _, _ in trace]
    assert out == case["expected"], f"filters that changed the text: {steps}"
    assert postprocess(case["raw"], ctx) == out
    # the filters are idempotent: post-processing a result changes nothing more
    assert postprocess(out, ctx) == out


@pytest.mark.parametrize("case", load("trigger"))
def test_trigger(case):
    decision = should_complete(
        case["line_prefix"],
        case["line_suffix"],
        case.get("language", "python"),
        multiline=case.get("multiline", "auto"),
        skip_in_comments=case.get("skip_in_comments", False),
        skip_in_strings=case.get("skip_in_strings", False),
        prefix_tail=case.get("prefix_tail", case["line_prefix"]),
    )
    assert decision.mode == case["expected"], decision.reason
    assert decision.reason
