"""pytest imports test modules by their base name (no __init__.py files): two test
files with the same name in different folders stop the whole run at collection."""

from __future__ import annotations

from collections import Counter
from pathlib import Path


def test_test_module_names_are_unique():
    root = Path(__file__).resolve().parents[1]
    names = Counter(p.name for p in root.rglob("test_*.py"))
    assert [name for name, n in names.items() if n > 1] == []
