"""Helpers shared by the tests and benchmarks (not test modules themselves)."""
