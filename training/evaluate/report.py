"""The table `train eval` prints: one row a figure, one column a model, and the
ratio of the first tuned model to the base."""

from __future__ import annotations

ROWS = (
    ("exact_match_all", "held-out exact match, one line"),
    ("exact_match_line", "  whole line"),
    ("exact_match_midline", "  rest of a typed line"),
    ("edit_similarity_all", "held-out edit similarity"),
    ("loss", "held-out loss (nats a token)"),
    ("perplexity", "held-out perplexity"),
    ("humaneval_pass@1", "HumanEval single-line pass@1"),
)


def _cell(value) -> str:
    return "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def table(results: list[dict]) -> list[str]:
    """Markdown table of ``[{"label", "model", "figures"}]`` (the base first)."""
    labels = [r["label"] for r in results]
    head = ["figure", *labels] + (["ratio"] if len(results) > 1 else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    counts = f"tasks: {results[0]['figures'].get('tasks', 0)}, loss tokens: " \
             f"{results[0]['figures'].get('tokens', 0)}, HumanEval tasks: " \
             f"{results[0]['figures'].get('humaneval_tasks', 0)}"
    for key, name in ROWS:
        values = [r["figures"].get(key) for r in results]
        if all(v is None for v in values):
            continue
        row = [name, *(_cell(v) for v in values)]
        if len(results) > 1:
            base, tuned = values[0], values[1]
            row.append(f"{tuned / base:.2f}x" if base and tuned is not None else "-")
        lines.append("| " + " | ".join(row) + " |")
    return [*lines, "", counts]
