"""``safecoder-lsp attribution build | shard | merge | check | stats`` run as a user runs
them."""

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


# -- shard, merge and a parallel build ------------------------------------------------------
OTHER = '''def chunked(items, size):
    """Split ``items`` into lists of at most ``size`` elements, keeping their order."""
    if size < 1:
        raise ValueError("size must be at least 1")
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
'''


def two_projects(tmp_path: Path) -> tuple[Path, Path]:
    gpl = tmp_path / "gpl-project"
    gpl.mkdir()
    (gpl / "COPYING").write_text(GPL3)
    (gpl / "intervals.py").write_text("import sys\n\n\n" + FUNCTION + "\n\nprint(1)\n")
    other = tmp_path / "other-project"
    (other / "lib").mkdir(parents=True)
    (other / "lib" / "chunks.py").write_text(OTHER)
    (other / "lib" / "consts.py").write_text("LIMIT = 10\n")
    return gpl, other


def damaged_parquet(path: Path) -> None:
    """A The Stack v1 file whose footer reads but whose first data page does not: plan()
    accepts it, reading its rows fails."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table(
            {
                "content": [FUNCTION],
                "max_stars_repo_name": ["gnu/intervals"],
                "max_stars_repo_path": ["merge.py"],
                "max_stars_repo_licenses": [["GPL-3.0-only"]],
            }
        ),
        path,
    )
    column = pq.ParquetFile(path).metadata.row_group(0).column(0)
    start = column.dictionary_page_offset or column.data_page_offset
    data = bytearray(path.read_bytes())
    data[start : start + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))


def shard_sources(out: Path) -> set[str]:
    from attribution import shards

    return {shards.read_info(p).source for p in shards.find([out])}


def test_shard_then_merge_then_check(tmp_path: Path):
    gpl, other = two_projects(tmp_path)
    out = tmp_path / "shards"
    proc = cli("shard", str(gpl), str(other), "--out", str(out), "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    assert "2 shards" in proc.stdout and "[2/2]" in proc.stderr
    assert shard_sources(out) == {str(gpl.resolve()), str(other.resolve())}

    index = tmp_path / "merged.sqlite"
    merged = cli("merge", str(out), "--index", str(index))
    assert merged.returncode == 0, merged.stderr
    assert "3 files" in merged.stdout
    assert f"merged {gpl.resolve()}: 1 files" in merged.stderr

    mine = tmp_path / "mine.py"
    mine.write_text("# new file\n\n" + FUNCTION.replace("    ", "  "))
    proc = cli("check", str(mine), "--index", str(index), "--json")
    assert proc.returncode == 0, proc.stderr
    out_json = json.loads(proc.stdout)
    assert out_json["decision"] == "annotate"
    assert [
        (m["repo"], m["path"], m["license"], m["start_line"], m["end_line"])
        for m in out_json["matches"]
    ] == [(str(gpl.resolve()), "intervals.py", "GPL-3.0-only", 4, 13)]

    empty = tmp_path / "empty"
    empty.mkdir()
    nothing = tmp_path / "nothing.sqlite"
    one_error(cli("merge", str(empty), "--index", str(nothing)), "no shards")
    assert not nothing.exists()


def test_shard_with_a_damaged_parquet_keeps_the_good_shards(tmp_path: Path):
    gpl, other = two_projects(tmp_path)
    bad = tmp_path / "damaged.parquet"
    damaged_parquet(bad)
    out = tmp_path / "shards"
    proc = cli("shard", str(gpl), str(bad), str(other), "--out", str(out), "--workers", "2")
    lines = proc.stderr.splitlines()
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"{bad.resolve()} [1/1]: failed: " in proc.stderr  # the progress line
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and "1 of 3 units failed" in errors[0]
    assert str(bad.resolve()) in errors[0] and "broke off while reading" in errors[0]
    assert any(line.lstrip().startswith("fix: ") for line in lines)
    assert shard_sources(out) == {str(gpl.resolve()), str(other.resolve())}
    assert sorted(p.suffix for p in out.iterdir()) == [".shard", ".shard"]

    again = cli("shard", str(gpl), str(other), "--out", str(out), "--workers", "2")
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("shard already there") == 2


def stats_of(index: Path) -> dict[str, str]:
    proc = cli("stats", "--index", str(index))
    assert proc.returncode == 0, proc.stderr
    return dict(line.split(": ", 1) for line in proc.stdout.splitlines())


def test_a_parallel_build_equals_a_serial_one(tmp_path: Path):
    gpl, other = two_projects(tmp_path)
    (tmp_path / "parallel").mkdir()
    (tmp_path / "serial").mkdir()
    parallel = tmp_path / "parallel" / "index.sqlite"
    serial = tmp_path / "serial" / "index.sqlite"
    proc = cli("build", str(gpl), str(other), "--workers", "2", "--index", str(parallel))
    assert proc.returncode == 0, proc.stderr
    assert "[2/2]" in proc.stderr and "merged " in proc.stderr  # shards were made and merged
    proc = cli("build", str(gpl), str(other), "--workers", "1", "--index", str(serial))
    assert proc.returncode == 0, proc.stderr
    assert "[1/2]" not in proc.stderr

    mine, theirs = stats_of(parallel), stats_of(serial)
    keys = ("sources", "documents", "corpus_bytes", "fingerprints")
    assert {k: mine[k] for k in keys} == {k: theirs[k] for k in keys}
    assert (mine["sources"], mine["documents"]) == ("2", "3")
    assert sorted(p.name for p in parallel.parent.iterdir()) == ["index.sqlite"]  # no shards

    query = OTHER + "\n" + FUNCTION
    checks = [
        cli("check", "-", "--index", str(ix), "--json", stdin=query) for ix in (parallel, serial)
    ]
    assert checks[0].returncode == 0, checks[0].stderr
    found = json.loads(checks[0].stdout)["matches"]
    assert sorted(m["path"] for m in found) == ["intervals.py", "lib/chunks.py"]
    assert json.loads(checks[1].stdout) == json.loads(checks[0].stdout)


def test_a_failed_parallel_build_keeps_its_shards_and_finishes_when_run_again(tmp_path: Path):
    gpl, other = two_projects(tmp_path)
    bad = tmp_path / "damaged.parquet"
    damaged_parquet(bad)
    index = tmp_path / "ix" / "index.sqlite"  # its folder is made
    args = ("build", str(gpl), str(other), "--workers", "2", "--index", str(index))
    proc = cli(*args[:3], str(bad), *args[3:])
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "1 of 3 units failed" in proc.stderr and ".." not in proc.stderr
    kept = index.with_name("index.sqlite.shards")
    assert len(list(kept.glob("*.shard"))) == 2  # the good units' work is kept
    again = cli(*args)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("shard already there") == 2
    assert not kept.exists()
    assert stats_of(index)["documents"] == "3"
