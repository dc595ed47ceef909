"""Benchmarks: quality (HumanEval infilling) and latency, see RESULTS.md."""
