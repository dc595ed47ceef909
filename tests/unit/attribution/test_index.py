"""The SQLite attribution index on real source files: planted copies are found with
their repo, path, lines and license; novel code is not; builds are atomic."""

from __future__ import annotations

import inspect
import json.decoder
import sqlite3
import textwrap

import pytest

from attribution.index import AttributionError, Index, SourceDocument

TEXTWRAP = inspect.getsource(textwrap)
DECODER = inspect.getsource(json.decoder)


def corpus() -> list[SourceDocument]:
    return [
        SourceDocument("github.com/python/cpython", "Lib/textwrap.py", "PSF-2.0", TEXTWRAP),
        SourceDocument("github.com/example/mit-lib", "json/decoder.py", "MIT", DECODER),
    ]


@pytest.fixture
def index(tmp_path):
    with Index(tmp_path / "index.sqlite") as ix:
        ix.add_source("stdlib", corpus())
        yield ix


def lines_of(text: str, needle: str) -> tuple[int, int]:
    start = text.index(needle)
    first = text.count("\n", 0, start) + 1
    return first, first + needle.rstrip("\n").count("\n")


def test_a_verbatim_copy_is_found_with_repo_path_license_and_lines(index):
    copied = inspect.getsource(textwrap.TextWrapper._split)
    suggestion = "    # helper\n" + copied + "\nx = 1\n"
    matches = index.query(suggestion)
    assert len(matches) == 1
    m = matches[0]
    assert (m.repo, m.path, m.license) == (
        "github.com/python/cpython",
        "Lib/textwrap.py",
        "PSF-2.0",
    )
    assert (m.start_line, m.end_line) == lines_of(TEXTWRAP, copied)
    assert suggestion[m.start : m.end].strip() == copied.strip()
    assert m.length == len("".join(copied.split()))


def test_a_reindented_copy_with_other_blank_lines_is_still_found(index):
    copied = inspect.getsource(json.decoder.JSONDecoder.decode)
    changed = "\n\n".join(
        line.replace("    ", "  ") for line in textwrap.dedent(copied).split("\n")
    )
    matches = index.query(changed)
    assert [m.path for m in matches] == ["json/decoder.py"]
    assert matches[0].license == "MIT"


def test_novel_code_and_short_copies_are_not_matches(index):
    novel = (
        "def frobnicate(widgets, limit=3):\n"
        "    seen = {}\n"
        "    for w in widgets:\n"
        "        seen[w.kind] = seen.get(w.kind, 0) + 1\n"
        "    return [k for k, v in sorted(seen.items()) if v >= limit]\n"
    )
    assert index.query(novel) == []
    short = TEXTWRAP[TEXTWRAP.index("def dedent") :][:100]  # under 150 normalized chars
    assert index.query(short) == []
    assert index.query("") == []


def test_re_adding_a_source_replaces_it(index):
    copied = inspect.getsource(textwrap.TextWrapper._split)
    assert index.query(copied)
    index.add_source("stdlib", corpus()[1:])  # textwrap.py is gone from the source
    assert index.query(copied) == []
    stats = index.stats()
    assert stats["sources"] == 1 and stats["documents"] == 1
    assert stats["guarantee"] == 150


def test_an_interrupted_build_leaves_the_previous_index(index):
    copied = inspect.getsource(textwrap.TextWrapper._split)

    def broken():
        yield corpus()[1]
        raise OSError("disk went away")

    with pytest.raises(OSError):
        index.add_source("stdlib", broken())
    assert [m.path for m in index.query(copied)] == ["Lib/textwrap.py"]
    assert index.stats()["documents"] == 2


def test_a_reader_during_a_build_sees_the_index_before_it(index, tmp_path):
    copied = inspect.getsource(textwrap.TextWrapper._split)
    reader = Index(index.path)
    seen = []

    def slow_source():
        yield corpus()[1]
        seen.append([m.path for m in reader.query(copied)])  # mid-build
        yield SourceDocument("r", "p", "MIT", "")

    index.add_source("stdlib", slow_source())
    assert seen == [["Lib/textwrap.py"]]
    assert reader.query(copied) == []  # after the commit
    reader.close()


def test_a_corrupt_or_foreign_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "not-an-index.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(AttributionError, match="not a usable attribution index") as info:
        Index(bad)
    assert "attribution build" in info.value.hint
    old = tmp_path / "old.sqlite"
    with sqlite3.connect(old) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('schema', '0')")
    with pytest.raises(AttributionError, match="index format"):
        Index(old)


def test_identifier_mode_finds_a_renamed_copy_whole(tmp_path):
    from attribution.normalize import normalize

    copied = inspect.getsource(textwrap.TextWrapper._split)
    renamed = copied.replace("chunks", "pieces").replace("text", "source")
    with Index(tmp_path / "ids.sqlite", mode="identifiers") as ix:
        ix.add_source("stdlib", corpus())
        found = ix.query(renamed)
    assert [m.path for m in found] == ["Lib/textwrap.py"]
    # the whole function is one run once names do not count
    assert found[0].length == len(normalize(renamed, "identifiers"))
    with Index(tmp_path / "ws.sqlite") as ix:
        ix.add_source("stdlib", corpus())
        pieces = ix.query(renamed)
    # with names counting, only the runs between renamed names are shared
    assert all(m.length < len("".join(renamed.split())) // 2 for m in pieces)


def test_another_database_is_never_written_and_reading_never_creates(tmp_path):
    foreign = tmp_path / "app.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE users (name TEXT)")
    before = foreign.read_bytes()
    with pytest.raises(AttributionError, match="another SQLite database"):
        Index(foreign)
    assert foreign.read_bytes() == before  # not one table added
    missing = tmp_path / "nothing.sqlite"
    with pytest.raises(AttributionError, match="does not exist") as info:
        Index(missing, create=False)
    assert "attribution build" in info.value.hint and not missing.exists()
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    with pytest.raises(AttributionError, match="it is empty"):
        Index(empty, create=False)
    assert empty.read_bytes() == b""
    with Index(empty) as made:  # building may create it
        assert made.stats()["documents"] == 0
    with Index(empty, create=False) as read:
        assert (read.k, read.w) == (made.k, made.w)
