"""The shared-endpoint benchmark's workload and report (the run itself is make bench)."""

from __future__ import annotations

import itertools

from bench.endpoint import compare, humaneval_problems, percentile, summary_rows, typing_prompts
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


def _row(clients: int, rps: float, p95: float, answers: dict[str, str]) -> dict:
    return {
        "clients": clients,
        "requests_per_s": rps,
        "p50_ms": 100.0,
        "p95_ms": p95,
        "warm_p50_ms": 90.0,
        "warm_p95_ms": 150.0,
        "answers": answers,
    }


def test_compare_gives_ratios_and_counts_differing_answers():
    ours = [_row(1, 3.0, 200.0, {"0/0": "a", "0/1": "b"}), _row(4, 6.0, 400.0, {"0/0": "x"})]
    theirs = [_row(1, 2.0, 400.0, {"0/0": "a", "0/1": "c"}), _row(4, 8.0, 200.0, {"1/0": "x"})]
    rows = compare(ours, theirs)
    assert rows["1"] == {
        "throughput_ratio": 1.5,
        "p95_ratio": 0.5,
        "answers_compared": 2,
        "answers_differ": 1,
    }
    # only answers to the same request are compared
    assert rows["4"]["throughput_ratio"] == 0.75
    assert rows["4"]["answers_compared"] == 0


def test_percentile_and_summary():
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.95) == 4.0
    assert percentile([5.0], 0.5) == 5.0
    row = _row(1, 2.0, 200.0, {"0/0": "a"})
    out = {
        "requests_per_client": 8,
        "max_tokens": 24,
        "threads": 2,
        "slots": 4,
        "results": {"ours": [row], "theirs": [row]},
        "comparisons": {"theirs": compare([row], [row])},
        "p95_4_over_p50_1": None,
        "warm_p95_4_over_p50_1": None,
    }
    text = "\n".join(summary_rows(out))
    assert "| ours | 1 | 2.00 | 100 | 200 | 90 | 150 |" in text
    assert "ours / theirs: 1 clients 1.00x (p95 1.00x, 0/1 answers differ)" in text
