"""``safecoder-lsp attribution build | check | stats`` run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

GPL3 = "GNU GENERAL PUBLIC LICENSE\nVersion 3, 29 June 2007\n"
FUNCTION = '''def merge_intervals(intervals):
    """Merge overlapping [start, end] intervals and return them sorted."""
    ordered = sorted(intervals, key=lambda pair: pair[0])
    merged = []
    for start, end in ordered:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged
'''


def cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None):
    base = {k: v for k, v in os.environ.items() if not k.startswith("SAFECODER_")}
    base["SAFECODER_CONFIG"] = os.devnull
    return subprocess.run(
        [sys.executable, "-m", "safecoder_lsp", "attribution", *args],
        env={**base, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def built(tmp_path: Path) -> Path:
    corpus = tmp_path / "gpl-project"
    corpus.mkdir()
    (corpus / "COPYING").write_text(GPL3)
    (corpus / "intervals.py").write_text("import sys\n\n\n" + FUNCTION + "\n\nprint(1)\n")
    index = tmp_path / "index.sqlite"
    proc = cli("build", str(corpus), "--index", str(index))
    assert proc.returncode == 0, proc.stderr
    assert "1 files" in proc.stdout or "1 file" in proc.stdout
    return index


def test_build_stats_and_check_with_annotate_and_block(built: Path, tmp_path: Path):
    stats = cli("stats", "--index", str(built))
    assert stats.returncode == 0 and "documents: 1" in stats.stdout
    assert "guarantee: 150" in stats.stdout

    mine = tmp_path / "mine.py"
    mine.write_text("# new file\n\n" + FUNCTION.replace("    ", "  "))
    proc = cli("check", str(mine), "--index", str(built))
    assert proc.returncode == 0, proc.stderr
    assert "intervals.py:4-13" in proc.stdout
    assert "GPL-3.0-only is not in the allowlist" in proc.stdout
    assert proc.stdout.strip().endswith("decision: annotate")

    blocked = cli(
        "check",
        "-",
        "--index",
        str(built),
        "--json",
        env={"SAFECODER_ATTRIBUTION_ACTION": "block"},
        stdin=mine.read_text(),
    )
    assert blocked.returncode == 3
    out = json.loads(blocked.stdout)
    assert out["decision"] == "block"
    assert [(m["path"], m["license"], m["allowed"]) for m in out["matches"]] == [
        ("intervals.py", "GPL-3.0-only", False)
    ]

    allowed = cli(
        "check",
        str(mine),
        "--index",
        str(built),
        env={
            "SAFECODER_ATTRIBUTION_ALLOWED_LICENSES": '["GPL-3.0-only"]',
            "SAFECODER_ATTRIBUTION_ACTION": "block",
        },
    )
    assert allowed.returncode == 0 and "GPL-3.0-only is allowed" in allowed.stdout

    novel = cli("check", "-", "--index", str(built), stdin="x = 1\nprint(x)\n")
    assert novel.returncode == 0 and "decision: allow (no matches)" in novel.stdout


def one_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and needle in proc.stderr
    assert "fix: " in proc.stderr


def test_errors_are_clear(tmp_path: Path):
    one_error(cli("stats"), "no index given")
    one_error(cli("check", "-", "--index", str(tmp_path / "none.sqlite")), "does not exist")
    one_error(
        cli("build", str(tmp_path / "missing"), "--index", str(tmp_path / "i.sqlite")),
        "is not a directory",
    )
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"garbage" * 1000)
    one_error(cli("stats", "--index", str(bad)), "not a usable attribution index")
    index = tmp_path / "empty.sqlite"
    assert cli("build", str(tmp_path / "nothing-here-yet"), "--index", str(index)).returncode == 1
    one_error(cli("check", str(tmp_path / "nope.py"), "--index", str(bad)), "not a usable")


def test_build_from_a_stack_parquet_file(tmp_path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet = tmp_path / "stack.parquet"
    pq.write_table(
        pa.table(
            {
                "blob_id": ["a"],
                "repo_name": ["gnu/intervals"],
                "path": ["merge.py"],
                "detected_licenses": [["GPL-3.0-only"]],
                "content": [FUNCTION],
            }
        ),
        parquet,
    )
    index = tmp_path / "stack.sqlite"
    assert cli("build", str(parquet), "--index", str(index)).returncode == 0
    proc = cli("check", "-", "--index", str(index), stdin=FUNCTION)
    assert "gnu/intervals merge.py:1-10" in proc.stdout and "GPL-3.0-only" in proc.stdout
