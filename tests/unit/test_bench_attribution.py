"""The attribution benchmark's helpers on real files (the standard library's own
source copied into tmp_path); no network, no corpus download."""

from __future__ import annotations

import random
import shutil
import textwrap
from pathlib import Path

from attribution.index import Index, SourceDocument
from attribution.normalize import normalize
from attribution.sources import Skipped, directory
from bench.attribution import (
    IndexedFile,
    Timings,
    context_query,
    false_matches,
    novel_code,
    plant_span,
    recall,
    summary_rows,
)


def real_text() -> str:
    return Path(textwrap.__file__).read_text(encoding="utf-8")


def test_plant_span_starts_at_a_line_and_normalizes_to_150():
    text = real_text()
    rng = random.Random(1)
    for _ in range(200):
        span = plant_span(text, rng)
        assert span is not None
        a, b = span
        assert a == 0 or text[a - 1] == "\n"
        assert 150 <= b - a <= 400
        assert len(normalize(text[a:b]).text) >= 150


def test_plant_span_gives_up_on_text_too_short_or_blank():
    rng = random.Random(0)
    assert plant_span("x = 1\n" * 10, rng) is None  # 60 characters
    assert plant_span("\n" + " " * 500 + "\n", rng) is None  # normalizes to nothing


def test_novel_code_is_deterministic_with_a_seed():
    one, two = novel_code(random.Random(7), 300), novel_code(random.Random(7), 300)
    assert one == two
    assert one != novel_code(random.Random(8), 300)
    assert len(one) >= 300 and one.endswith("\n")
    assert novel_code(random.Random(7), 0) == ""
    compile(one, "<novel>", "exec")  # it is code


def test_context_query_is_a_cursor_at_a_line_start():
    text = real_text()
    rng = random.Random(3)
    for _ in range(100):
        q = context_query(text, rng)
        assert q is not None
        head, suggestion = q
        assert len(head) <= 300 and 100 <= len(suggestion) <= 400
        cursor = text.index(head + suggestion) + len(head)
        assert cursor == 0 or text[cursor - 1] == "\n"
    assert context_query("short\n", rng) is None


def test_recall_and_false_matches_on_a_tiny_index(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(textwrap.__file__, src / "textwrap.py")
    docs = list(directory(src, Skipped()))
    with Index(tmp_path / "index.sqlite") as index:
        index.add_source("stdlib", docs)
        files = [IndexedFile(d.repo, d.path, src / d.path, d.license) for d in docs]
        timings = Timings()
        rec = recall(index, files, 30, random.Random(0), timings)
        assert rec["recall"] == 1.0 and rec["misses"] == []
        # the indexed text itself is found (the check can fail)...
        found = false_matches(index, docs, 20, random.Random(0), timings)
        assert found["rate"] > 0.5 and found["examples"]
        # ...and novel code is not
        novel = [
            SourceDocument("", "n.py", "", novel_code(random.Random(i), 800)) for i in range(5)
        ]
        clean = false_matches(index, novel, 20, random.Random(0), timings)
        assert clean["queries"] == 20 and clean["with_match"] == 0
    assert len(timings.ms) == len(timings.matches) == 70
    buckets = timings.by_matches()
    assert buckets["0"]["queries"] == 20 + found["queries"] - found["with_match"]
    assert sum(b["queries"] for b in buckets.values()) == 70


def test_summary_rows_is_a_markdown_table():
    fm = {"rate": 0.0, "with_match": 0, "queries": 10, "reaching_suggestion": 0}
    kinds = ("all", "planted", "novel")
    result = {
        "quick": True,
        "build": {
            "corpus_mb": 1.0,
            "documents": 3,
            "sources": [{}],
            "k": 40,
            "w": 111,
            "mode": "whitespace",
            "build_mb_per_s": 5.0,
            "index_to_corpus": 0.6,
            "build_seconds": 0.2,
            "index_mb": 0.6,
            "fingerprints": 100,
        },
        "recall": {
            "recall": 1.0,
            "hits": 10,
            "planted": 10,
            "matches_per_query_mean": 1.0,
            "matches_per_query_max": 1,
        },
        "latency_ms": {k: {"p50": 0.1, "p95": 0.2, "p99": 0.3, "max": 0.4} for k in kinds},
        "false_matches": {"held_out_wheels": fm, "own_source": fm},
    }
    rows = summary_rows(result)
    table = [r for r in rows if r.startswith("|")]
    assert len(table) == 3 and len({r.count("|") for r in table}) == 1
