"""Shard files on real SQLite: written from prepared documents, merged into a real index
with the same result as indexing the documents directly; merges are checked (complete,
same settings, readable) and atomic."""

from __future__ import annotations

import inspect
import json.decoder
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from attribution import shards
from attribution.fingerprint import K, W
from attribution.index import AttributionError, Index, PreparedDocument, SourceDocument, prepare
from attribution.normalize import Mode

TEXTWRAP = inspect.getsource(textwrap)
DECODER = inspect.getsource(json.decoder)
PLANTED = '''def rolling_checksum(blocks, modulus=65521):
    """Adler-style checksum over a sequence of byte blocks, one value per block."""
    low, high, result = 1, 0, []
    for block in blocks:
        for byte in block:
            low = (low + byte) % modulus
            high = (high + low) % modulus
        result.append((high << 16) | low)
    return result
'''
assert len(PLANTED) >= 300
QUERY = "# my helper\nimport os\n\n" + PLANTED + "\nprint(rolling_checksum([b'x']))\n"
WRAP_COPY = inspect.getsource(textwrap.TextWrapper._split)
SOURCE = "/corpus/projects"
STAT_KEYS = ("sources", "documents", "corpus_bytes", "fingerprints", "k", "w", "mode")


def corpus() -> list[SourceDocument]:
    return [
        SourceDocument("github.com/python/cpython", "Lib/textwrap.py", "PSF-2.0", TEXTWRAP),
        SourceDocument("github.com/example/mit-lib", "json/decoder.py", "MIT", DECODER),
        SourceDocument("github.com/example/sums", "src/planted.py", "GPL-3.0-only", PLANTED),
        SourceDocument(
            "github.com/example/fork",
            "vendor/checksum.py",
            "Apache-2.0",
            "import zlib\n\n\n" + PLANTED + "\n\nCRC = zlib.crc32(b'abc')\n",
        ),
        SourceDocument("github.com/example/tiny", "tiny.py", "", "x = 1\n"),
    ]


def prepared(mode: Mode = "whitespace", k: int = K, w: int = W) -> list[PreparedDocument]:
    return [prepare(d, k, w, mode) for d in corpus()]


def write_parts(
    folder: Path,
    docs: list[PreparedDocument],
    parts: int,
    source: str = SOURCE,
    mode: Mode = "whitespace",
    k: int = K,
    w: int = W,
) -> list[Path]:
    """``docs`` split over ``parts`` shards of ``source`` (as consecutive runs)."""
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-len(docs) // parts)
    paths = []
    for part in range(parts):
        path = folder / shards.file_name(source, part, parts)
        info = shards.ShardInfo(source, part, parts, k, w, mode)
        shards.write(path, info, docs[part * size : (part + 1) * size])
        paths.append(path)
    return paths


def summary(index: Index) -> dict[str, int | str]:
    stats = index.stats()
    return {key: stats[key] for key in STAT_KEYS}


def results(index: Index) -> list[list]:
    return [index.query(q) for q in (QUERY, WRAP_COPY, DECODER[2000:2600])]


@pytest.fixture
def direct(tmp_path: Path) -> Iterator[Index]:
    """The corpus added directly (add_source): what a merge must reproduce."""
    with Index(tmp_path / "direct.sqlite") as ix:
        ix.add_source(SOURCE, corpus())
        yield ix


def test_a_merged_shard_set_equals_adding_the_documents_directly(tmp_path: Path, direct):
    docs = prepared()
    paths = write_parts(tmp_path / "shards", docs, parts=2)
    first = shards.read_info(paths[0])
    assert (first.source, first.part, first.parts, first.k, first.w, first.mode) == (
        SOURCE,
        0,
        2,
        K,
        W,
        "whitespace",
    )
    assert first.documents == 3 and first.bytes == sum(d.size for d in docs[:3])
    assert shards.read_info(paths[1]).documents == 2

    with Index(tmp_path / "merged.sqlite") as merged:
        added = shards.merge(merged, shards.find([tmp_path / "shards"]))
        assert added == {SOURCE: 5}
        assert summary(merged) == summary(direct)
        assert summary(merged)["documents"] == 5
        assert results(merged) == results(direct)

        planted = merged.query(QUERY)
        assert {(m.repo, m.path, m.license) for m in planted} == {
            ("github.com/example/sums", "src/planted.py", "GPL-3.0-only"),
            ("github.com/example/fork", "vendor/checksum.py", "Apache-2.0"),
        }
        fork = next(m for m in planted if m.path == "vendor/checksum.py")
        assert (fork.start_line, fork.end_line) == (4, 12)
        assert QUERY[fork.start : fork.end].strip() == PLANTED.strip()
        assert [m.path for m in merged.query(WRAP_COPY)] == ["Lib/textwrap.py"]


def test_a_shard_reads_back_the_documents_it_was_written_with(tmp_path: Path):
    import numpy as np

    docs = prepared()
    [path] = write_parts(tmp_path, docs, parts=1)
    back = list(shards.read(path))
    assert len(back) == len(docs)
    for mine, theirs in zip(docs, back, strict=True):
        assert (theirs.repo, theirs.path, theirs.license, theirs.size) == (
            mine.repo,
            mine.path,
            mine.license,
            mine.size,
        )
        assert (theirs.normalized, theirs.line_starts) == (mine.normalized, mine.line_starts)
        assert np.array_equal(theirs.hashes, mine.hashes)
        assert np.array_equal(theirs.positions, mine.positions)
        assert theirs.hashes.dtype == np.int64 and theirs.positions.dtype == np.int64


def test_merging_replaces_the_source(tmp_path: Path, direct):
    old = "".join(f"value_{i} = legacy_step_{i}(value_{i - 1}, {i * 7})\n" for i in range(1, 15))
    with Index(tmp_path / "ix.sqlite") as ix:
        ix.add_source(SOURCE, [SourceDocument("old/repo", "legacy.py", "MIT", old)])
        ix.add_source("/other", [SourceDocument("keep/repo", "keep.py", "MIT", DECODER)])
        assert [m.path for m in ix.query(old)] == ["legacy.py"]

        paths = write_parts(tmp_path / "shards", prepared(), parts=2)
        shards.merge(ix, paths)
        once = summary(ix)
        assert ix.query(old) == []  # the earlier add_source of the same name is gone
        assert once["sources"] == 2 and once["documents"] == 5 + 1
        assert any(m.path == "keep.py" for m in ix.query(DECODER[2000:2600]))

        shards.merge(ix, paths)  # again: still one copy
        assert summary(ix) == once
        planted = [m.path for m in ix.query(QUERY)]
        assert sorted(planted) == ["src/planted.py", "vendor/checksum.py"]


def test_an_incomplete_shard_set_is_refused_and_nothing_changes(tmp_path: Path, direct):
    paths = write_parts(tmp_path / "shards", prepared(), parts=3)
    paths[1].unlink()
    before = direct.stats()
    with pytest.raises(AttributionError) as info:
        shards.merge(direct, shards.find([tmp_path / "shards"]))
    assert SOURCE in info.value.message
    # part 1 (0-based, as in the file names) is reported 1-based, as units describe
    # themselves ("[2/3]")
    assert "parts 2 of 3 are missing" in info.value.message
    assert "shard job again" in info.value.hint
    assert direct.stats() == before


def test_shards_of_other_settings_are_refused_and_nothing_changes(tmp_path: Path):
    good = write_parts(tmp_path / "good", prepared(), parts=1, source="/good")
    renamed = write_parts(tmp_path / "ids", prepared("identifiers"), parts=1, mode="identifiers")
    sized = write_parts(tmp_path / "kw", prepared(k=30, w=50), parts=1, k=30, w=50)
    with Index(tmp_path / "ix.sqlite") as ix:
        ix.add_source(SOURCE, corpus()[:1])
        before = ix.stats()
        with pytest.raises(AttributionError) as info:
            shards.merge(ix, good + renamed)
        assert "mode=identifiers" in info.value.message
        assert "mode=whitespace" in info.value.message
        assert ix.stats() == before  # the good source's shards were not merged either
        with pytest.raises(AttributionError) as info:
            shards.merge(ix, sized)
        assert "k=30 w=50" in info.value.message
        assert f"k={K} w={W}" in info.value.message
        assert "same settings" in info.value.hint
        assert ix.stats() == before
        assert ix.query(QUERY) == []


def test_damaged_or_foreign_shards_are_clear_errors(tmp_path: Path, direct):
    before = direct.stats()
    garbage = tmp_path / "garbage.shard"
    garbage.write_bytes(b"no sqlite here " * 500)
    [real] = write_parts(tmp_path / "real", prepared(), parts=1)
    truncated = tmp_path / "truncated.shard"
    truncated.write_bytes(real.read_bytes()[: real.stat().st_size // 2])
    for broken in (garbage, truncated, direct.path):  # an index is no shard either
        with pytest.raises(AttributionError) as info:
            shards.merge(direct, [broken])
        assert str(broken) in info.value.message
        assert "run the shard job again" in info.value.hint
        assert direct.stats() == before

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(AttributionError, match="no shards") as info:
        shards.find([empty])
    assert "attribution shard" in info.value.hint
    with pytest.raises(AttributionError, match="does not exist"):
        shards.find([tmp_path / "missing"])
    assert shards.find([empty, real]) == [real]


class DiskGoneError(Exception):
    """Fake: a failure in the middle of reading a unit (its source going away)."""


def test_writing_a_shard_is_atomic(tmp_path: Path):
    docs = prepared()
    path = tmp_path / shards.file_name(SOURCE, 0, 1)
    info = shards.ShardInfo(SOURCE, 0, 1, K, W, "whitespace")

    def breaks_midway() -> Iterator[PreparedDocument]:
        yield from docs[:2]
        raise DiskGoneError("the corpus went away")

    with pytest.raises(DiskGoneError):
        shards.write(path, info, breaks_midway())
    assert os.listdir(tmp_path) == []  # neither the shard nor a partial file

    done = shards.write(path, info, docs[:1])  # a complete shard there already...
    with pytest.raises(DiskGoneError):
        shards.write(path, info, breaks_midway())
    assert sorted(os.listdir(tmp_path)) == [path.name]  # ...stays, whole
    assert shards.read_info(path) == done and done.documents == 1
    assert len(list(shards.read(path))) == 1


def corrupt_document_pages(path: Path) -> None:
    """Overwrite the shard's pages after the schema, meta and documents root pages
    (pages 1-3): its info stays readable, its documents do not."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    assert len(data) > 5 * page
    data[3 * page :] = b"\xff" * (len(data) - 3 * page)
    path.write_bytes(bytes(data))


def test_a_merge_that_breaks_off_leaves_the_index_as_it_was(tmp_path: Path):
    docs = prepared()
    docs = docs[2:] + docs[:2]  # the large files (several pages) in the second shard
    with Index(tmp_path / "ix.sqlite") as ix:
        ix.add_source(SOURCE, corpus()[2:3])  # an earlier version of the source
        before, found_before = summary(ix), results(ix)
        assert [m.path for m in ix.query(QUERY)] == ["src/planted.py"]

        paths = write_parts(tmp_path / "shards", docs, parts=2)
        corrupt_document_pages(paths[1])
        assert shards.read_info(paths[1]).documents == 2  # so group() accepts the set
        with pytest.raises(AttributionError, match="broke off while reading"):
            list(shards.read(paths[1]))

        # part 0's documents go in first, then reading part 1 fails
        with pytest.raises(AttributionError, match="broke off while reading") as info:
            shards.merge(ix, paths)
        assert str(paths[1]) in info.value.message
        assert summary(ix) == before
        assert results(ix) == found_before

        # the index is still usable: the same merge with the shard made again succeeds
        write_parts(tmp_path / "shards", docs, parts=2)
        assert shards.merge(ix, paths) == {SOURCE: 5}
        assert summary(ix)["documents"] == 5
        assert sorted(m.path for m in ix.query(QUERY)) == [
            "src/planted.py",
            "vendor/checksum.py",
        ]


def test_repeated_or_mixed_parts_are_named(tmp_path: Path, direct):
    docs = prepared()
    paths = write_parts(tmp_path / "a", docs, parts=2)
    copy = tmp_path / "b" / paths[0].name
    copy.parent.mkdir()
    copy.write_bytes(paths[0].read_bytes())
    before = direct.stats()
    with pytest.raises(AttributionError) as info:
        shards.merge(direct, [*paths, copy])
    assert "parts 1 twice" in info.value.message and str(copy) in info.value.message
    other = write_parts(tmp_path / "c", docs, parts=3)
    with pytest.raises(AttributionError) as info:
        shards.merge(direct, [*paths, other[2]])
    assert "different jobs" in info.value.message and "2 and 3" in info.value.message
    assert direct.stats() == before


def test_the_file_name_counts_parts_from_one_like_the_messages():
    name = shards.file_name(SOURCE, 1, 3)
    assert name.endswith("-000002-of-000003.shard")
    assert name != shards.file_name(SOURCE + "x", 1, 3)
