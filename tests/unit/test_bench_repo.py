"""The repository-level benchmark without a model: evaluation/repo_tasks.py's task builder on
a small hand-written project (kinds, token-boundary cuts, skip rules, determinism,
other files to open), the split by project, the pins, the sessions that keep the
hidden text from the server, prompt clipping, and evaluation/scores.py's scores."""

from __future__ import annotations

import io
import tokenize

import pytest

from bench import corpus
from bench.repo_projects import (
    HELD_OUT,
    PROJECTS,
    Project,
    fetch,
    is_complete,
    marker,
    projects,
    split_of,
)
from bench.repobench import holed, select, sessions, spread, summary_rows
from evaluation.infill import clip
from evaluation.repo_tasks import build_tasks, other_files
from evaluation.scores import edit_similarity, exact_match, levenshtein, summarize

CORE = '''"""Core module docstring.

More text here that is long enough.
"""
from .util import clamp, scale
from pkg import helpers


class Engine:
    """An engine."""

    def __init__(self, speed: int) -> None:
        self.speed = clamp(speed, 0, 100)  # keep in range
        self.history: list[int] = []

    def run(self, steps: int) -> int:
        total = 0
        for step in range(steps):
            total += scale(step, self.speed)
            self.history.append(total)
        if total > 1000:
            return helpers.cap(total)
        return total

    def reset(self):
        pass
'''

FILES = {
    "pkg/__init__.py": "from pkg.core import Engine\n",
    "pkg/core.py": CORE,
    "pkg/util.py": "def clamp(v, lo, hi):\n    return max(lo, min(hi, v))\n\n\n"
    "def scale(v, k):\n    return v * k\n",
    "pkg/helpers.py": "def cap(total):\n    return min(total, 1000)\n",
    "pkg/zeta.py": "VALUE = 1\n",
    "pkg/sub/deep.py": "from ..core import Engine\nfrom . import other\n",
    "pkg/sub/other.py": "X = 1\n",
}


def core_tasks(kind: str, seed: int = 0, per_kind: int = 1000):
    tasks = build_tasks("demo", {"pkg/core.py": CORE}, (kind,), per_kind, seed)
    assert tasks
    return tasks


@pytest.mark.parametrize("kind", ["line", "midline", "block"])
def test_every_task_puts_its_file_back_together(kind):
    for task in core_tasks(kind):
        assert task.prefix + task.middle + task.suffix == CORE
        assert task.kind == kind and task.project == "demo" and task.middle.strip()
        assert task.line == task.prefix.count("\n")
        assert task.suffix.startswith("\n")


def test_line_tasks_hide_each_nontrivial_line_with_the_cursor_at_its_indentation():
    tasks = core_tasks("line")
    assert [t.middle for t in tasks] == [
        "from .util import clamp, scale",
        "from pkg import helpers",
        "class Engine:",
        "def __init__(self, speed: int) -> None:",
        "self.history: list[int] = []",
        "def run(self, steps: int) -> int:",
        "total = 0",
        "for step in range(steps):",
        "total += scale(step, self.speed)",
        "self.history.append(total)",
        "if total > 1000:",
        "return helpers.cap(total)",
        "return total",
        "def reset(self):",
    ]  # not: docstring lines, the commented line, pass, blank lines
    for task in tasks:
        head = task.prefix[task.prefix.rfind("\n") + 1 :]
        original = CORE.split("\n")[task.line]
        assert head == original[: len(original) - len(original.lstrip())]
        assert task.column == len(head)


def test_midline_tasks_cut_at_a_token_start_after_the_first_token():
    for task in core_tasks("midline"):
        original = CORE.split("\n")[task.line]
        head = task.prefix[task.prefix.rfind("\n") + 1 :]
        assert head + task.middle == original
        tokens = tokenize.generate_tokens(io.StringIO(original.strip() + "\n").readline)
        indent = len(original) - len(original.lstrip())
        starts = [t.start[1] + indent for t in tokens if t.string.strip()]
        assert len(head) in starts[1:]
        assert len(task.middle.replace(" ", "")) >= 3


def test_midline_cuts_leave_more_than_punctuation():
    text = "values = compute(first, second)\nfoo(a)\n"
    tasks = build_tasks("demo", {"m.py": text}, ("midline",), 10, seed=0)
    cuts = set()
    for seed in range(30):
        cuts |= {t.column for t in build_tasks("demo", {"m.py": text}, ("midline",), 10, seed)}
    assert [t.line for t in tasks] == [0]  # "foo(a)" is too short to hide
    # after "values", "=", "compute", "(", "first", ",", "second": never before ")"
    assert cuts == {7, 9, 16, 17, 22, 24}


def test_midline_cuts_are_seeded():
    a = [(t.line, t.column) for t in core_tasks("midline", seed=0)]
    b = [(t.line, t.column) for t in core_tasks("midline", seed=0)]
    c = [(t.line, t.column) for t in core_tasks("midline", seed=3)]
    assert a == b and a != c


def test_block_tasks_hide_short_bodies_after_a_colon():
    tasks = core_tasks("block")
    assert [t.middle for t in tasks] == [
        "total += scale(step, self.speed)\n            self.history.append(total)",
        "return helpers.cap(total)",
    ]  # not: a docstring body, a body with a comment, four statements, `pass`
    for task in tasks:
        before, _, head = task.prefix.rpartition("\n")
        assert before.rstrip().endswith(":") and head.strip() == "" and head


def test_a_nested_block_counts_as_one_statement():
    text = "def f(xs):\n    for x in xs:\n        if x:\n            print(x)\n    return xs\n"
    middles = [t.middle for t in build_tasks("demo", {"m.py": text}, ("block",), 10)]
    assert "for x in xs:\n        if x:\n            print(x)\n    return xs" in middles


def test_tasks_are_deterministic_and_drawn_by_seed():
    assert build_tasks("demo", FILES, per_kind=3) == build_tasks("demo", FILES, per_kind=3)
    lines0 = [t.line for t in build_tasks("demo", FILES, ("line",), 3, seed=0)]
    lines1 = [t.line for t in build_tasks("demo", FILES, ("line",), 3, seed=1)]
    assert len(lines0) == 3 and lines0 != lines1


def test_a_file_that_does_not_tokenize_gives_no_tasks():
    files = {"bad.py": "def f(:\n    x = (1,\n", "good.py": "value = compute(1, 2)\n"}
    assert {t.path for t in build_tasks("demo", files, ("line",), 10)} == {"good.py"}


def test_other_files_are_the_imported_ones_first_then_the_folder():
    assert other_files("pkg/core.py", FILES) == ("pkg/util.py", "pkg/helpers.py", "pkg/__init__.py")
    assert other_files("pkg/sub/deep.py", FILES) == ("pkg/core.py", "pkg/sub/other.py")
    assert other_files("pkg/__init__.py", FILES) == ("pkg/core.py", "pkg/helpers.py", "pkg/util.py")
    assert other_files("pkg/core.py", FILES, n=1) == ("pkg/util.py",)
    task = build_tasks("demo", FILES, ("line",), 50)[0]
    assert task.others == other_files(task.path, FILES)


def test_the_split_is_fixed_by_project():
    assert len(PROJECTS) >= 5 and len(HELD_OUT) == 3
    assert {p.name for p in projects("heldout")} == HELD_OUT
    assert {p.name for p in projects("tune")} | HELD_OUT == {p.name for p in PROJECTS}
    held = next(iter(HELD_OUT))
    assert {t.split for t in select({held: FILES}, ("line",), 2, 0)} == {"heldout"}
    assert {t.split for t in select({"copier": FILES}, ("line",), 2, 0)} == {"tune"}
    assert split_of("anything-else") == "tune"


def test_projects_are_pinned_and_not_in_the_attribution_corpus():
    wheels = corpus.FULL + corpus.HELD_OUT + corpus.QUICK + corpus.QUICK_HELD_OUT
    assert not {p.name for p in PROJECTS} & {w.name for w in wheels}
    for p in PROJECTS:
        assert p.version and len(p.sha256) == 64 and int(p.sha256, 16) >= 0 and p.packages


def test_a_verified_folder_is_not_fetched_again(tmp_path):
    project = Project("nothing-here", "0.0.0", "ab" * 32, ("pkg",))
    target = tmp_path / project.folder
    target.mkdir()
    assert not is_complete(project, target)
    (target / ".complete").write_text("nothing_here-0.0.0.tar.gz sha256=" + "cd" * 32)
    assert not is_complete(project, target)  # another sdist: would be fetched again
    (target / ".complete").write_text(marker(project, "nothing_here-0.0.0.tar.gz"))
    assert is_complete(project, target)
    assert fetch(project, tmp_path) == target  # no download: the package does not exist


def test_sessions_never_hold_two_tasks_of_one_file():
    tasks = build_tasks("demo", FILES, per_kind=6) + build_tasks("other", FILES, per_kind=2)
    groups = sessions(tasks)
    assert sorted(i for g in groups for i in g) == list(range(len(tasks)))
    for group in groups:
        assert len({tasks[i].project for i in group}) == 1
        paths = [tasks[i].path for i in group]
        assert len(paths) == len(set(paths))
    assert all(holed(t) == t.prefix + t.suffix and t.middle not in holed(t) for t in tasks[:1])


def test_spread_takes_evenly_spaced_tasks():
    assert spread(list(range(10)), 5) == [0, 2, 4, 6, 8]
    assert spread(list(range(3)), 0) == [0, 1, 2]
    assert spread(list(range(3)), 10) == [0, 1, 2]


def words(data: bytes, add_bos: bool = False, special: bool = False) -> list[bytes]:
    """A tokenizer that counts whitespace-separated words, for the clipping rule."""
    return data.split()


def test_clipping_keeps_whole_lines_nearest_the_cursor():
    text = "a b\nc d\ne f\ng h"
    assert clip(words, text, 4, keep_end=True) == "e f\ng h"
    assert clip(words, text, 5, keep_end=False) == "a b\nc d"
    assert clip(words, "one two three", 1, keep_end=True) == "one two three"  # the typed line


def test_exact_match_ignores_trailing_whitespace_only():
    assert exact_match("x = 1  \n", "x = 1")
    assert exact_match("a\t\nb ", "a\nb")
    assert not exact_match(" x = 1", "x = 1")
    assert not exact_match("x = 1\ny", "x = 1")


def test_edit_similarity():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3
    assert edit_similarity("kitten", "sitting") == pytest.approx(1 - 3 / 7)
    assert edit_similarity("", "") == 1.0
    assert edit_similarity("", "abc") == 0.0
    assert edit_similarity("abc  ", "abc") == 1.0


def test_summarize():
    rows = [
        {"lsp_em": True, "lsp_es": 1.0, "lsp_ms": 10.0},
        {"lsp_em": False, "lsp_es": 0.5, "lsp_ms": 30.0},
        {"raw_em": True},
    ]
    s = summarize(rows, "lsp")
    assert s["tasks"] == 2 and s["exact_match"] == 0.5 and s["edit_similarity"] == 0.75
    assert s["p50_ms"] == 20.0 and s["p95_ms"] == 30.0
    assert summarize(rows, "raw+cut") == {"tasks": 0}


def test_summary_rows_make_a_markdown_table():
    report = {
        "projects": ["copier==9.19.1"],
        "limit": 5,
        "summary": {
            "lsp/tune/line": {
                "tasks": 5,
                "exact_match": 0.4,
                "edit_similarity": 0.8125,
                "p50_ms": 120.4,
            }
        },
    }
    rows = summary_rows(report)
    assert rows[0].startswith("Repository-level completion (copier==9.19.1; 5 tasks")
    assert rows[-1] == "| lsp | tune | line | 5 | 0.400 | 0.812 | 120 |"
