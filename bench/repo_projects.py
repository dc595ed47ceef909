"""The repository-level benchmark's projects: pinned sdists from the package index.

None of them is in the attribution benchmark's corpus (bench/corpus.py). Each sdist is
fetched with ``pip download --no-deps --no-binary :all:``, its sha256 checked against
the pin, and unpacked into ``<cache>/<name>-<version>/`` (default cache
``~/.cache/safecoder-lsp/repobench``, outside the repository). The folder's
``.complete`` marker names the sdist and its sha256; a folder whose marker matches the
pin is used as it is, anything else is fetched again.

Tasks come from the project's own package code (``packages``), not its tests or docs.
The split is fixed by project: ``HELD_OUT`` projects are reported apart and never
used for tuning.
Usage: python -m bench.repo_projects [--cache DIR]  (fetch, verify, print file counts)
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Project:
    name: str
    version: str
    sha256: str  # of the sdist on the package index
    packages: tuple[str, ...]  # folders (relative to the unpacked sdist) tasks come from

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}"

    @property
    def folder(self) -> str:
        return f"{self.name}-{self.version}"


PROJECTS: tuple[Project, ...] = (
    Project(
        "copier",
        "9.19.1",
        "3fe48c38a290c90dfa67cfc7811bc3f576c03f59d3a1e6a09a8d46c2f0403988",
        ("copier",),
    ),
    Project(
        "cyclopts",
        "5.4.0",
        "a853c9394fde3e3ec0a1b50c7e20b64bb49dfd71baef5f24eceb7bb397171a41",
        ("cyclopts",),
    ),
    Project(
        "dishka",
        "1.10.1",
        "51fb624b9acc948b90f57128460061d1f3a1780121fe1c7d14c565e8bbff2083",
        ("src/dishka",),
    ),
    Project(
        "icalendar",
        "7.3.0",
        "7bd001c8e648205e1bde5c6a5b77096598e8d0893dcf57755c6c597635620132",
        ("src/icalendar",),
    ),
    Project(
        "polyfactory",
        "3.5.0",
        "78a1e4cf8f317be7da7c111d661f39db35080ec9c12b8df7c01dfbbc1c17250f",
        ("polyfactory",),
    ),
    Project(
        "python-statemachine",
        "3.2.2",
        "5968c5e07a537f7531b8b1d0a0d5067a3452c88941fa0ac6c244870d48f78325",
        ("statemachine",),
    ),
    Project(
        "textx",
        "4.4.0",
        "a7b15a4698b503edde631d5227c0d0f6024898a86a7924b5fc741973305f9286",
        ("textx",),
    ),
    Project(
        "transitions",
        "0.9.3",
        "881fb75bb1654ed55d86060bb067f2c716f8e155f57bb73fd444e53713aafec8",
        ("transitions",),
    ),
)

# Fixed, not drawn: reported apart, never used for tuning.
HELD_OUT: frozenset[str] = frozenset({"icalendar", "textx", "transitions"})
SPLITS = ("tune", "heldout")

MAX_FILE_BYTES = 200_000  # larger files (generated tables) are left out


def split_of(project: str) -> str:
    return "heldout" if project in HELD_OUT else "tune"


def projects(split: str | None = None) -> list[Project]:
    """The projects of ``split`` (all with None), in the pinned order."""
    return [p for p in PROJECTS if split is None or split_of(p.name) == split]


def default_cache() -> Path:
    return Path.home() / ".cache" / "safecoder-lsp" / "repobench"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def marker(project: Project, sdist: str) -> str:
    return f"{sdist} sha256={project.sha256}\n"


def is_complete(project: Project, target: Path) -> bool:
    """``target`` holds this pin's sdist, unpacked and verified."""
    try:
        text = (target / ".complete").read_text()
    except OSError:
        return False
    return f"sha256={project.sha256}" in text


def _download(project: Project, downloads: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--disable-pip-version-check",
        "-d",
        str(downloads),
        project.pin,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    files = sorted(downloads.glob("*.tar.gz"))
    if done.returncode != 0 or len(files) != 1:
        raise RuntimeError(
            f"pip download {project.pin} failed (exit {done.returncode}): "
            f"{done.stderr.strip()[-2000:]}"
        )
    got = sha256_of(files[0])
    if got != project.sha256:
        raise RuntimeError(f"{files[0].name}: sha256 {got}, pinned {project.sha256}")
    return files[0]


def fetch(project: Project, cache: Path | None = None) -> Path:
    """The unpacked sdist, downloaded, verified and unpacked first unless it is there."""
    cache = cache or default_cache()
    target = cache / project.folder
    if is_complete(project, target):
        return target
    downloads = cache / ".downloads" / project.folder
    shutil.rmtree(downloads, ignore_errors=True)
    downloads.mkdir(parents=True)
    sdist = _download(project, downloads)
    partial = cache / f".{project.folder}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    with tarfile.open(sdist) as tar:
        tar.extractall(partial, filter="data")
    tops = list(partial.iterdir())
    root = tops[0] if len(tops) == 1 and tops[0].is_dir() else partial
    (root / ".complete").write_text(marker(project, sdist.name))
    shutil.rmtree(target, ignore_errors=True)
    os.replace(root, target)
    shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(downloads, ignore_errors=True)
    with contextlib.suppress(OSError):
        downloads.parent.rmdir()  # only when no other download is under way
    return target


def read_files(project: Project, root: Path) -> dict[str, str]:
    """{path relative to ``root``: text} of the Python files in the project's packages
    (their own ``tests`` folders left out)."""
    files: dict[str, str] = {}
    for package in project.packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root / package).parts
            if "tests" in parts or path.stat().st_size > MAX_FILE_BYTES:
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            files[path.relative_to(root).as_posix()] = text
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=default_cache())
    args = parser.parse_args()
    for project in PROJECTS:
        root = fetch(project, args.cache)
        files = read_files(project, root)
        chars = sum(len(t) for t in files.values())
        print(
            f"{project.pin:30s} {split_of(project.name):8s} {len(files):4d} files "
            f"{chars / 1e3:7.0f} k chars  {root}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
