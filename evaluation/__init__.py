"""Quality measurement shared by the benchmarks (bench/) and `safecoder-lsp train eval`:
the repository task builder, the scores, HumanEval single-line infilling, greedy
infilling and held-out loss through llama.cpp."""
