"""The reference objects shown to clients and the reference log, on real files."""

from __future__ import annotations

import json
import logging

from attribution.index import Match
from attribution.policy import Reference
from safecoder_lsp import references
from safecoder_lsp.completion.service import RequestRecord


def ref(start: int, end: int, allowed: bool = False) -> Reference:
    match = Match(
        repo="gpl-graphs",
        path="graphs.py",
        license="GPL-3.0-only",
        start_line=10,
        end_line=14,
        start=start,
        end=end,
        length=180,
    )
    why = "GPL-3.0-only is allowed" if allowed else "GPL-3.0-only is not in the allowlist"
    return Reference(match=match, allowed=allowed, why=why)


def test_as_json_names_the_match_and_its_span_in_the_suggestion():
    [out] = references.as_json([ref(0, 25)], length=40)
    assert out == {
        "repo": "gpl-graphs",
        "path": "graphs.py",
        "start_line": 10,
        "end_line": 14,
        "license": "GPL-3.0-only",
        "length": 180,
        "allowed": False,
        "why": "GPL-3.0-only is not in the allowlist",
        "start": 0,
        "end": 25,
    }
    json.dumps(out)  # plain JSON


def test_as_json_clamps_to_the_suggestion_and_shifts_by_base_offset():
    past, inverted, negative = ref(30, 99), ref(12, 5), ref(-3, 8)
    spans = [(r["start"], r["end"]) for r in references.as_json([past, inverted, negative], 20)]
    assert spans == [(20, 20), (12, 12), (0, 8)]
    # the popup item inserts the typed word ("dist", 4 characters) before the suggestion
    [shifted] = references.as_json([ref(2, 99, allowed=True)], length=20, base_offset=4)
    assert (shifted["start"], shifted["end"]) == (6, 24)
    assert shifted["allowed"] is True
    # no length: nothing to clamp to
    [free] = references.as_json([ref(2, 99)])
    assert (free["start"], free["end"]) == (2, 99)
    assert references.as_json([]) == []


def test_the_log_holds_the_same_objects_and_read_log_returns_them(tmp_path):
    path = tmp_path / "data" / "references.jsonl"
    text = "x" * 30
    for rid in ("r1", "r2", "r3"):
        record = RequestRecord(rid, "file:///w/a.py", text, 0.0, references=(ref(0, 50),))
        references.append_to_log(record, path)
    entries = references.read_log(path)
    assert [e["request_id"] for e in entries] == ["r1", "r2", "r3"]
    assert entries[0]["uri"] == "file:///w/a.py"
    assert entries[0]["matches"] == references.as_json([ref(0, 50)], len(text))
    assert entries[0]["matches"][0]["end"] == 30  # clamped to the suggestion
    assert text not in path.read_text()  # no code in the log
    assert [e["request_id"] for e in references.read_log(path, limit=2)] == ["r2", "r3"]
    assert references.read_log(path, limit=0) == []


def test_read_log_missing_and_empty(tmp_path):
    assert references.read_log(tmp_path / "none.jsonl") == []
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert references.read_log(empty) == []
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n  \n")
    assert references.read_log(blank) == []


def test_read_log_skips_corrupt_lines_and_says_so(tmp_path, caplog):
    path = tmp_path / "references.jsonl"
    good = [{"request_id": f"r{i}", "matches": []} for i in range(4)]
    lines = [
        json.dumps(good[0]),
        '{"request_id": "cut',  # a write cut short
        json.dumps(good[1]),
        "[1, 2]",  # JSON, but not an entry
        json.dumps(good[2]),
        "not json at all",
        json.dumps(good[3]),
    ]
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe garbage\n")
    with caplog.at_level(logging.WARNING, logger="safecoder_lsp.references"):
        assert references.read_log(path) == good
    assert "4 corrupt line(s)" in caplog.text and "line 2" in caplog.text
    # the limit counts entries, not lines
    assert references.read_log(path, limit=3) == good[1:]


def test_read_log_of_a_directory_is_empty_not_a_crash(tmp_path, caplog):
    with caplog.at_level(logging.ERROR, logger="safecoder_lsp.references"):
        assert references.read_log(tmp_path) == []
    assert "cannot read the reference log" in caplog.text
