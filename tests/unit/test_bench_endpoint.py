"""The shared-endpoint benchmark's workload and report (the run itself is make bench)."""

from __future__ import annotations

import itertools

from bench.endpoint import humaneval_problems, percentile, summary_rows, typing_prompts
from engine.fim import QWEN


def test_typing_prompts_type_through_the_solution():
    problem = humaneval_problems()[0]
    prompts = typing_prompts(problem, 5)
    assert len(prompts) == 5
    heads = [p.split(QWEN.middle)[1] for p in prompts]  # the typed part of the line
    before = [p.split(QWEN.suffix)[0] for p in prompts]
    for p in prompts:
        assert p.startswith(QWEN.prefix + problem["prompt"])
    # each request has six more characters typed than the one before
    typed = [len(b) + len(h) for b, h in zip(before, heads, strict=True)]
    assert all(b - a == 6 for a, b in itertools.pairwise(typed))


def test_percentile_and_summary():
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.95) == 4.0
    assert percentile([5.0], 0.5) == 5.0
    row = {
        "clients": 1,
        "requests_per_s": 2.0,
        "p50_ms": 100.0,
        "p95_ms": 200.0,
        "warm_p50_ms": 90.0,
        "warm_p95_ms": 150.0,
    }
    out = {
        "requests_per_client": 8,
        "max_tokens": 24,
        "threads": 2,
        "slots": 4,
        "results": {"ours": [row], "theirs": [row]},
        "throughput_ratio": {"1": 1.0},
        "p95_4_over_p50_1": None,
        "warm_p95_4_over_p50_1": None,
    }
    text = "\n".join(summary_rows(out))
    assert "| ours | 1 | 2.00 | 100 | 200 | 90 | 150 |" in text
    assert "1 clients 1.00x" in text
