"""Corpus sources and license detection on real files, a real git checkout and the
real installed Python distributions."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from attribution import licenses
from attribution.sources import (
    Skipped,
    directory,
    git_remote,
    python_distributions,
    read_text,
)

MIT = """MIT License

Copyright (c) 2024 Someone

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction...

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED.
"""
GPL3 = """                    GNU GENERAL PUBLIC LICENSE
                       Version 3, 29 June 2007
 Copyright (C) 2007 Free Software Foundation, Inc. <https://fsf.org/>
"""


def test_license_texts_headers_and_metadata():
    assert licenses.from_text(MIT) == "MIT"
    assert licenses.from_text(GPL3) == "GPL-3.0-only"
    assert licenses.from_text("All rights reserved.") == ""
    assert licenses.from_header("// SPDX-License-Identifier: Apache-2.0 OR MIT\nint x;") == (
        "Apache-2.0 OR MIT"
    )
    assert licenses.from_header("/* SPDX-License-Identifier: GPL-2.0-only */") == "GPL-2.0-only"
    assert licenses.from_metadata("MIT AND Zlib", "whatever", []) == "MIT AND Zlib"
    assert licenses.from_metadata(None, "BSD", []) == "BSD-3-Clause"
    # a License field that is itself an SPDX expression (ansible's GPL-3.0-or-later)
    assert licenses.from_metadata(None, "GPL-3.0-or-later", []) == "GPL-3.0-or-later"
    assert licenses.from_metadata(None, "MIT OR Apache-2.0", []) == "MIT OR Apache-2.0"
    assert licenses.from_metadata(None, "Proprietary-Thing", []) == ""
    classifiers = ["License :: OSI Approved :: MIT License", "Programming Language :: Python"]
    assert licenses.from_metadata(None, "", classifiers) == "MIT"
    assert licenses.from_metadata(None, MIT, []) == "MIT"  # the whole text in License
    assert licenses.from_metadata(None, None, []) == ""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "src" / "vendored").mkdir(parents=True)
    (root / "LICENSE").write_text(MIT)
    (root / "src" / "main.py").write_text("def main():\n    return 1\n")
    (root / "src" / "header.c").write_text("// SPDX-License-Identifier: Apache-2.0\nint x;\n")
    (root / "src" / "vendored" / "COPYING").write_text(GPL3)
    (root / "src" / "vendored" / "lib.py").write_text("X = 1\n")
    (root / "src" / "blob.py").write_bytes(b"\x00\x01binary" * 10)
    (root / "src" / "notes.txt").write_text("not code")
    (root / "src" / "big.py").write_text("x = 1\n" * 200_000)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(root),
            "remote",
            "add",
            "origin",
            "https://git.example.com/team/proj.git",
        ],
        check=True,
    )
    return root


def test_a_git_checkout(checkout: Path):
    skipped = Skipped()
    docs = {d.path: d for d in directory(checkout, skipped)}
    assert set(docs) == {"src/main.py", "src/header.c", "src/vendored/lib.py"}
    assert {d.repo for d in docs.values()} == {"https://git.example.com/team/proj.git"}
    assert docs["src/main.py"].license == "MIT"  # the root LICENSE
    assert docs["src/header.c"].license == "Apache-2.0"  # its own SPDX header
    assert docs["src/vendored/lib.py"].license == "GPL-3.0-only"  # the nearest COPYING
    assert docs["src/main.py"].text == "def main():\n    return 1\n"
    assert skipped.binary == 1 and skipped.too_big == 1 and skipped.unreadable == []
    assert git_remote(checkout) == "https://git.example.com/team/proj.git"


def test_a_plain_directory_without_license_or_remote(tmp_path: Path):
    (tmp_path / "a.py").write_text("print(1)\n")
    [doc] = list(directory(tmp_path))
    assert (doc.repo, doc.path, doc.license) == (str(tmp_path.resolve()), "a.py", "")
    with pytest.raises(FileNotFoundError):
        list(directory(tmp_path / "missing"))


def test_an_unreadable_file_is_skipped_and_reported(tmp_path: Path):
    # a directory is unreadable as a file for every user, root included
    (tmp_path / "pkg.py").mkdir()
    skipped = Skipped()
    assert read_text(tmp_path / "pkg.py", skipped) is None
    assert len(skipped.unreadable) == 1 and "pkg.py" in skipped.unreadable[0]
    assert read_text(tmp_path / "missing.py", skipped) is None
    assert len(skipped.unreadable) == 2


def test_installed_python_distributions_are_a_licensed_corpus():
    docs = list(python_distributions())
    by_project = {d.path.split("/", 1)[0].lower(): d for d in docs}
    # pygls and pytest are installed in every test environment (declared dependencies)
    assert by_project["pygls"].license == "Apache-2.0"
    assert by_project["pytest"].license == "MIT"
    assert all(d.path.endswith(".py") for d in docs)
    known = sum(1 for d in docs if d.license)
    assert known / len(docs) > 0.9
