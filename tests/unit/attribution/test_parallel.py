"""Work units and the parallel drivers on real files: directories, a multi-row-group
The Stack parquet file written with pyarrow, worker processes and a real local Ray.
Shards they write merge into the same index a serial build makes."""

from __future__ import annotations

import inspect
import json.decoder
import os
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from attribution import shards
from attribution.fingerprint import K, W
from attribution.index import AttributionError, Index
from attribution.parallel import Outcome, Settings, run_local, run_ray, run_unit, shard_path
from attribution.sources import Skipped, directory, distribution_names, stack_parquet
from attribution.units import SITE_PACKAGES, Unit, documents, plan, source_name

TEXTWRAP = inspect.getsource(textwrap)
DECODER = inspect.getsource(json.decoder)
CODE = inspect.getsource(textwrap.TextWrapper._wrap_chunks)
SETTINGS = Settings(K, W, "whitespace")
STAT_KEYS = ("sources", "documents", "corpus_bytes", "fingerprints")
ROWS, GROUP_ROWS, PLANTED_ROW = 60, 10, 47
QUERIES = (
    "# mine\n" + inspect.getsource(textwrap.TextWrapper._split) + "\nx = 1\n",
    CODE,  # in alpha/wrap.py and in row 47 of the parquet file
    inspect.getsource(json.decoder.JSONDecoder.raw_decode),
    "def novel(a):\n    return [b for b in a if b]\n",
)
MIT = "MIT License\n\nPermission is hereby granted, free of charge, to any person...\n"


def write_stack_v1(path: Path) -> None:
    pq.write_table(
        pa.table(
            {
                "content": [
                    CODE if i == PLANTED_ROW else f"value_{i} = compute({i}, 'row {i}')\n" * 3
                    for i in range(ROWS)
                ],
                "max_stars_repo_name": [f"org/repo{i}" for i in range(ROWS)],
                "max_stars_repo_path": [f"src/f{i}.py" for i in range(ROWS)],
                "max_stars_repo_licenses": [
                    ["MIT"] if i % 2 else ["Apache-2.0"] for i in range(ROWS)
                ],
            }
        ),
        path,
        row_group_size=GROUP_ROWS,
    )


def two_groups(parquet: Path) -> int:
    """A target size that puts about two row groups in a unit."""
    return 2 * pq.ParquetFile(parquet).metadata.row_group(1).total_byte_size


class Corpus:
    def __init__(self, root: Path) -> None:
        self.dirs = [root / "alpha", root / "beta", root / "gamma"]
        for d in self.dirs:
            d.mkdir(parents=True)
        (self.dirs[0] / "LICENSE").write_text(MIT)
        (self.dirs[0] / "wrap.py").write_text(TEXTWRAP)
        (self.dirs[0] / "util.py").write_text("def helper():\n    return 42\n")
        (self.dirs[1] / "pkg").mkdir()
        (self.dirs[1] / "pkg" / "decoder.py").write_text(DECODER)
        (self.dirs[2] / "main.c").write_text("int main(void) { return 0; }\n")
        (self.dirs[2] / "blob.py").write_bytes(b"\x00\x01binary" * 10)
        self.parquet = root / "stack.parquet"
        write_stack_v1(self.parquet)
        self.target = two_groups(self.parquet)

    @property
    def sources(self) -> list[str]:
        return [*map(str, self.dirs), str(self.parquet)]

    def units(self) -> list[Unit]:
        return plan(self.sources, target_bytes=self.target)


def summary(index: Index) -> dict[str, int | str]:
    stats = index.stats()
    return {key: stats[key] for key in STAT_KEYS}


def results(index: Index) -> list[list]:
    return [index.query(q) for q in QUERIES]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return Corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def serial(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory):
    """What a serial build (add_source per source) of the corpus holds."""
    with Index(tmp_path_factory.mktemp("serial") / "serial.sqlite") as ix:
        for d in corpus.dirs:
            ix.add_source(source_name(str(d)), directory(d))
        ix.add_source(source_name(str(corpus.parquet)), stack_parquet(corpus.parquet))
        found = results(ix)
        held = summary(ix)
    # the comparison is not vacuous: the planted copies are there
    assert held["sources"] == 4 and held["documents"] == 2 + 1 + 1 + ROWS
    assert [m.path for m in found[0]] == ["wrap.py"]
    assert {(m.repo, m.path) for m in found[1]} == {
        (f"org/repo{PLANTED_ROW}", f"src/f{PLANTED_ROW}.py"),
        (str(corpus.dirs[0].resolve()), "wrap.py"),
    }
    assert [m.path for m in found[2]] == ["pkg/decoder.py"]
    assert found[3] == []
    return held, found


def merged(out: Path, path: Path) -> tuple[dict[str, int | str], list[list]]:
    with Index(path) as ix:
        shards.merge(ix, shards.find([out]))
        return summary(ix), results(ix)


def broken_parquet(folder: Path) -> tuple[Path, Unit]:
    """A damaged parquet file and the unit for it (made by hand: plan() rejects it)."""
    bad = folder / "damaged.parquet"
    bad.write_bytes(b"PAR1" + b"\x07" * 3000)
    name = source_name(str(bad))
    return bad, Unit(name, "parquet", name, 0, 1, (0,))


# -- plan -----------------------------------------------------------------------------
def test_plan_cuts_a_parquet_file_into_runs_of_row_groups(corpus: Corpus):
    groups = pq.ParquetFile(corpus.parquet).metadata.num_row_groups
    assert groups == ROWS // GROUP_ROWS
    units = plan([str(corpus.parquet)], target_bytes=corpus.target)
    assert len(units) > 1
    name = str(corpus.parquet.resolve())
    assert {(u.source, u.kind, u.location, u.parts) for u in units} == {
        (name, "parquet", name, len(units))
    }
    assert [u.part for u in units] == list(range(len(units)))
    covered = [g for u in units for g in u.selection]
    assert covered == list(range(groups))  # every row group once, in order
    # each run (but the last) stops at the first row group that brings it to the target
    meta = pq.ParquetFile(corpus.parquet).metadata
    size = [meta.row_group(g).total_byte_size for g in range(groups)]
    for u in units[:-1]:
        assert sum(size[g] for g in u.selection) >= corpus.target
        assert sum(size[g] for g in u.selection[:-1]) < corpus.target
    # one row group a unit with a tiny target, the whole file with the default
    assert [u.selection for u in plan([str(corpus.parquet)], target_bytes=1)] == [
        (g,) for g in range(groups)
    ]
    [whole] = plan([str(corpus.parquet)])
    assert whole.selection == tuple(range(groups)) and whole.parts == 1
    # the units' documents are the file's rows, each once
    docs = [d for u in units for d in documents(u, Skipped())]
    assert [d.path for d in docs] == [f"src/f{i}.py" for i in range(ROWS)]


def test_plan_directories_distributions_and_bad_sources(corpus: Corpus, tmp_path: Path):
    alpha = corpus.dirs[0]
    relative = os.path.relpath(alpha)
    units = plan([relative, str(corpus.dirs[1])])
    assert units == [
        Unit(str(alpha.resolve()), "directory", str(alpha.resolve()), 0, 1),
        Unit(str(corpus.dirs[1].resolve()), "directory", str(corpus.dirs[1].resolve()), 0, 1),
    ]
    assert {d.path for d in documents(units[0], Skipped())} == {"wrap.py", "util.py"}

    site = plan([SITE_PACKAGES])
    names = [n for u in site for n in u.selection]
    assert sorted(names) == sorted(distribution_names()) and len(set(names)) == len(names)
    assert {"numpy", "pyarrow", "pytest"} <= set(names)
    assert [u.part for u in site] == list(range(len(site)))
    assert {(u.source, u.kind, u.parts) for u in site} == {
        (SITE_PACKAGES, "distributions", len(site))
    }
    numpy = next(u for u in site if u.selection == ("numpy",))
    first = next(documents(numpy, Skipped()))
    assert first.path.startswith("numpy/") and first.path.endswith(".py")

    with pytest.raises(AttributionError) as info:
        plan([str(corpus.dirs[0]), str(tmp_path / "no-such-folder")])
    assert "no-such-folder" in info.value.message and SITE_PACKAGES in info.value.hint
    notes = tmp_path / "notes.txt"
    notes.write_text("not a source\n")
    with pytest.raises(AttributionError, match="is not a directory"):
        plan([str(notes)])
    with pytest.raises(AttributionError, match="not a readable parquet file"):
        plan([str(tmp_path / "missing.parquet")])


# -- run_local ------------------------------------------------------------------------
def test_worker_processes_build_what_a_serial_build_builds(corpus: Corpus, serial, tmp_path):
    units = corpus.units()
    assert len(units) == 3 + 3  # three directories, three runs of two row groups
    outcomes = run_local(units, tmp_path / "out", SETTINGS, workers=2)
    assert len(outcomes) == len(units) and {o.unit for o in outcomes} == set(units)
    assert all(o.info is not None and not o.reused and o.error == "" for o in outcomes)
    by_unit = {o.unit: o.info for o in outcomes}
    gamma = by_unit[units[2]]
    assert gamma is not None and (gamma.documents, gamma.binary) == (1, 1)
    assert sum(i.documents for i in by_unit.values() if i) == serial[0]["documents"]
    assert merged(tmp_path / "out", tmp_path / "parallel.sqlite") == serial


def mtimes(out: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in out.iterdir()}


def test_a_job_run_again_redoes_only_missing_shards(corpus: Corpus, serial, tmp_path: Path):
    units, out = corpus.units(), tmp_path / "out"
    first = run_local(units, out, SETTINGS, workers=2)
    assert not any(o.reused for o in first)
    written = mtimes(out)
    assert set(written) == {shard_path(out, u).name for u in units}

    again = run_local(units, out, SETTINGS, workers=2)
    assert len(again) == len(units) and all(o.reused for o in again)
    assert mtimes(out) == written  # not one shard rewritten
    infos = {o.unit: o.info for o in first}
    for o in again:
        assert o.info is not None and infos[o.unit] is not None
        assert (o.info.source, o.info.part, o.info.parts, o.info.documents, o.info.bytes) == (
            infos[o.unit].source,
            infos[o.unit].part,
            infos[o.unit].parts,
            infos[o.unit].documents,
            infos[o.unit].bytes,
        )

    lost = units[4]  # the middle run of the parquet file
    shard_path(out, lost).unlink()
    third = run_local(units, out, SETTINGS, workers=2)
    assert {o.unit for o in third if not o.reused} == {lost}
    assert all(o.info is not None for o in third)
    now = mtimes(out)
    assert set(now) == set(written)
    assert {n for n in now if now[n] != written[n]} == {shard_path(out, lost).name}
    assert merged(out, tmp_path / "ix.sqlite") == serial


def test_a_failing_unit_does_not_stop_the_others(corpus: Corpus, tmp_path: Path):
    bad, bad_unit = broken_parquet(tmp_path)
    good = plan([str(d) for d in corpus.dirs])
    units = [good[0], bad_unit, *good[1:]]
    out = tmp_path / "out"
    seen: list[tuple[Outcome, int, int]] = []
    outcomes = run_local(
        units, out, SETTINGS, workers=2, progress=lambda o, i, n: seen.append((o, i, n))
    )
    assert len(outcomes) == len(units)
    [failed] = [o for o in outcomes if o.info is None]
    assert failed.unit == bad_unit and not failed.reused
    assert str(bad) in failed.error and "not a readable parquet file" in failed.error
    assert all(o.info is not None and o.info.documents >= 1 for o in outcomes if o is not failed)
    # the good shards are there; nothing (no shard, no partial file) for the bad unit
    assert sorted(os.listdir(out)) == sorted(shard_path(out, u).name for u in good)
    assert [s[0] for s in seen] == outcomes
    assert [(i, n) for _, i, n in seen] == [(i, len(units)) for i in range(1, len(units) + 1)]


# -- Ray (one test: starting Ray takes seconds) --------------------------------------------
def test_ray_tasks_build_what_a_serial_build_builds(
    corpus: Corpus, serial, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import ray

    monkeypatch.delenv("RAY_USAGE_STATS_ENABLED", raising=False)
    bad, bad_unit = broken_parquet(tmp_path)
    units = [*corpus.units(), bad_unit]
    out = tmp_path / "out"
    seen: list[int] = []
    outcomes = run_ray(units, out, SETTINGS, num_cpus=2, progress=lambda o, i, n: seen.append(i))

    # no telemetry (for a Ray it starts itself, ray.init sets this too: the check only
    # bites for a cluster run_ray connects to)
    assert os.environ["RAY_USAGE_STATS_ENABLED"] == "0"
    assert not ray.is_initialized()  # shut down again
    assert seen == list(range(1, len(units) + 1))
    assert len(outcomes) == len(units) and {o.unit for o in outcomes} == set(units)
    [failed] = [o for o in outcomes if o.info is None]
    assert failed.unit == bad_unit and str(bad) in failed.error
    assert all(o.info is not None and not o.reused for o in outcomes if o is not failed)
    assert sorted(os.listdir(out)) == sorted(shard_path(out, u).name for u in units[:-1])
    assert merged(out, tmp_path / "ray.sqlite") == serial


def test_a_shard_of_other_settings_is_made_again_and_skips_are_kept(corpus: Corpus, tmp_path):
    gamma = plan([str(corpus.dirs[2])])  # holds one binary .py file
    out = tmp_path / "out"
    [first] = run_local(gamma, out, SETTINGS, workers=1)
    assert first.info is not None and first.info.binary == 1
    [again] = run_local(gamma, out, SETTINGS, workers=1)
    assert again.reused and again.info is not None and again.info.binary == 1  # stored
    other = Settings(K, W, "identifiers")
    [redone] = run_local(gamma, out, other, workers=1)
    assert not redone.reused and redone.info is not None and redone.info.mode == "identifiers"
    assert shards.read_info(shard_path(out, gamma[0])).mode == "identifiers"


def test_an_unwritable_output_folder_is_an_outcome_not_a_crash(corpus: Corpus, tmp_path):
    out = tmp_path / "file-not-folder"
    out.write_text("")
    [unit] = plan([str(corpus.dirs[0])])
    outcome = run_unit(unit, str(out), SETTINGS)
    assert outcome.info is None and "cannot write" in outcome.error
