"""The Stack parquet files (v1 and v2 schemas) as a corpus, written with pyarrow."""

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from attribution.index import AttributionError, Index
from attribution.sources import Skipped, stack_parquet

CODE = inspect.getsource(textwrap.TextWrapper._wrap_chunks)


def write_v1(path: Path, rows: int = 600) -> None:
    table = pa.table(
        {
            "content": [CODE if i == 7 else f"x_{i} = {i}\n" for i in range(rows)],
            "hexsha": [f"{i:040x}" for i in range(rows)],
            "size": [10] * rows,
            "lang": ["Python"] * rows,
            "ext": ["py"] * rows,
            "max_stars_repo_name": [f"org/repo{i}" for i in range(rows)],
            "max_stars_repo_path": [f"src/f{i}.py" for i in range(rows)],
            "max_stars_repo_head_hexsha": ["0" * 40] * rows,
            "max_stars_repo_licenses": [
                ["MIT", "Apache-2.0"] if i == 7 else ["MIT"] for i in range(rows)
            ],
        }
    )
    pq.write_table(table, path, row_group_size=100)


def write_v2(path: Path) -> None:
    table = pa.table(
        {
            "blob_id": ["a", "b", "c"],
            "repo_name": ["gnu/thing", "org/nocontent", "org/binary"],
            "path": ["lib/wrap.py", "x.py", "y.py"],
            "detected_licenses": [["GPL-3.0-only"], ["MIT"], []],
            "license_type": ["non_permissive", "permissive", "no_license"],
            "language": ["Python"] * 3,
            "revision_id": ["r"] * 3,
            "length_bytes": [len(CODE), 0, 4],
            "content": [CODE, None, "\0\0\0\0"],
        }
    )
    pq.write_table(table, path)


def test_v1_rows_stream_into_an_index(tmp_path: Path):
    parquet = tmp_path / "the-stack-v1.parquet"
    write_v1(parquet)
    docs = list(stack_parquet(parquet))
    assert len(docs) == 600
    doc = docs[7]
    assert (doc.repo, doc.path, doc.license) == ("org/repo7", "src/f7.py", "MIT AND Apache-2.0")
    with Index(tmp_path / "ix.sqlite") as ix:
        assert ix.add_source("stack", stack_parquet(parquet)) == 600
        [match] = ix.query("# mine\n" + CODE)
        assert (match.repo, match.path) == ("org/repo7", "src/f7.py")


def test_v2_rows_without_content_or_binary_are_skipped(tmp_path: Path):
    parquet = tmp_path / "the-stack-v2.parquet"
    write_v2(parquet)
    skipped = Skipped()
    docs = list(stack_parquet(parquet, skipped))
    assert [(d.repo, d.path, d.license) for d in docs] == [
        ("gnu/thing", "lib/wrap.py", "GPL-3.0-only")
    ]
    assert skipped.binary == 1
    assert len(skipped.unreadable) == 1 and "org/nocontent" in skipped.unreadable[0]


def test_malformed_and_foreign_parquet_are_clear_errors(tmp_path: Path):
    junk = tmp_path / "junk.parquet"
    junk.write_bytes(b"PAR1" + b"\x07" * 5000)
    with pytest.raises(AttributionError, match="not a readable parquet file"):
        list(stack_parquet(junk))
    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"text": ["a"], "id": [1]}), other)
    with pytest.raises(AttributionError, match="neither The Stack v1 nor v2") as info:
        list(stack_parquet(other))
    assert "max_stars_repo_name" in info.value.hint
    with pytest.raises(AttributionError, match="not a readable parquet file"):
        list(stack_parquet(tmp_path / "missing.parquet"))
