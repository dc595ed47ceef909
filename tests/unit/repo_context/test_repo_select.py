"""Choosing snippets within a budget: definitions first, then similar chunks."""

from __future__ import annotations

from safecoder_lsp.completion.context import estimate_tokens
from safecoder_lsp.repo_context.chunks import Chunk, split
from safecoder_lsp.repo_context.definitions import definitions
from safecoder_lsp.repo_context.select import Query, header_cost, rank_chunks, select
from safecoder_lsp.repo_context.tokens import identifiers

BILLING = "".join(
    f"invoice_total_{i} = compute_invoice(customer_id, tax_rate)\n" for i in range(10)
)
WEATHER = "".join(f"forecast_{i} = fetch_weather(station, humidity)\n" for i in range(10))
LIB = (
    'def tally_ledger(entries, *, rounding_mode="bankers"):\n    """Sum entries."""\n    return 0\n'
)


def query(before: str, own: frozenset[str] = frozenset()) -> Query:
    from safecoder_lsp.repo_context.tokens import all_identifiers

    return Query(frozenset(identifiers(before)), tuple(sorted(all_identifiers(before))), own)


def test_the_similar_chunk_ranks_first_and_dissimilar_ones_are_left_out():
    q = query("total = compute_invoice(customer_id, tax_rate)\n")
    chunks = split("billing.py", BILLING) + split("weather.py", WEATHER)
    ranked = rank_chunks(q, chunks, frozenset())
    assert [c.path for _, c in ranked] == ["billing.py"]


def test_a_recently_used_chunk_gets_a_bonus():
    q = query("station humidity customer_id tax_rate")
    a = split("a.py", "z = station + humidity\n")[0]
    b = split("b.py", "y = customer_id + tax_rate\n")[0]
    plain = rank_chunks(q, [b, a], frozenset())
    assert [c for _, c in plain] == [a, b] and plain[0][0] == plain[1][0]  # ties: path order
    boosted = rank_chunks(q, [a, b], frozenset({b.key}))
    assert boosted[0][1] == b and boosted[0][0] > plain[0][0]


def test_definitions_of_names_near_the_cursor_come_with_chunks_within_the_budget():
    q = query("x = tally_ledger(rows, \ntotal = compute_invoice(customer_id, tax_rate)\n")
    index = {d.name: d for d in definitions("lib.py", LIB)}
    chunks = split("billing.py", BILLING) + split("weather.py", WEATHER)
    snippets, used = select(q, chunks, index, estimate_tokens, budget=400, most=8)
    assert [(s.kind, s.path) for s in snippets] == [
        ("chunk", "billing.py"),
        ("definition", "lib.py"),
    ]
    assert "rounding_mode" in snippets[-1].text  # definitions last, next to the current file
    assert used == [chunks[0]]
    spent = sum(estimate_tokens(s.text) + header_cost(s.path, estimate_tokens) for s in snippets)
    assert spent <= 400


def test_a_name_the_current_file_defines_is_not_looked_up():
    q = query("x = tally_ledger(rows)\n", own=frozenset({"tally_ledger"}))
    index = {d.name: d for d in definitions("lib.py", LIB)}
    snippets, _ = select(q, [], index, estimate_tokens, budget=400, most=8)
    assert snippets == []


def test_a_chunk_is_cut_to_fit_and_dropped_when_too_little_fits():
    q = query("total = compute_invoice(customer_id, tax_rate)\n")
    chunks = split("billing.py", BILLING)
    per_line = estimate_tokens(BILLING.splitlines(keepends=True)[0])
    header = header_cost("billing.py", estimate_tokens)
    budget = header + per_line * 8 + 1
    snippets, _ = select(q, chunks, {}, estimate_tokens, budget=budget, most=8)
    assert len(snippets) == 1 and snippets[0].text.count("\n") == 8
    snippets, _ = select(q, chunks, {}, estimate_tokens, budget=budget - per_line, most=8)
    assert snippets == []


def test_the_order_is_the_files_not_the_scores():
    q = query("alpha_value beta_value gamma_value")
    best = split("z.py", "x = alpha_value + beta_value + gamma_value\n")[0]
    worse = split("a.py", "y = alpha_value\n")[0]
    snippets, used = select(q, [best, worse], {}, estimate_tokens, budget=400, most=8)
    assert [s.path for s in snippets] == ["a.py", "z.py"] and used == [best, worse]


def test_nothing_without_budget_or_snippets_and_no_near_duplicates():
    q = query("total = compute_invoice(customer_id, tax_rate)\n")
    twice = [*split("a.py", BILLING), *split("b.py", BILLING)]
    assert select(q, twice, {}, estimate_tokens, budget=0, most=8) == ([], [])
    assert select(q, twice, {}, estimate_tokens, budget=400, most=0) == ([], [])
    snippets, _ = select(q, twice, {}, estimate_tokens, budget=2000, most=8)
    assert [s.path for s in snippets] == ["a.py"]


def test_a_chunk_holding_a_chosen_definition_is_not_repeated():
    q = query("x = tally_ledger(rows)\n")
    index = {d.name: d for d in definitions("lib.py", LIB)}
    whole: list[Chunk] = split("lib.py", LIB)
    snippets, _ = select(q, whole, index, estimate_tokens, budget=400, most=8)
    assert [s.kind for s in snippets] == ["definition"]
