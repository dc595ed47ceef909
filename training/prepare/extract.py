"""Reading a repository: the files at git HEAD (the committed tree, not what is lying
in the working directory), or every file of a plain directory.

A source is described by ``Source`` (name, commit, license, the authors found in its
history); its files are first listed with their sizes (``Entry``) so that selection
can leave out what it will not use before anything is read.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG

from attribution.licenses import LICENSE_FILES, from_directory, from_text
from training.errors import TrainingError

SKIP_DIRS = frozenset({".git", ".hg", ".svn"})
_GIT_TIMEOUT_S = 600


@dataclass(frozen=True)
class Source:
    name: str  # unique among the sources of one dataset
    root: Path
    kind: str  # "git" or "directory"
    commit: str = ""  # HEAD's commit id for git
    license: str = ""  # SPDX id of the root LICENSE/COPYING file, if recognised
    authors: tuple[str, ...] = ()  # author and committer names in the git history
    emails: tuple[str, ...] = ()  # their e-mail addresses


@dataclass(frozen=True)
class Entry:
    path: str  # posix, relative to the source's root
    size: int
    blob: str = ""  # git object id (git sources)
    kind: str = "file"  # or "link" (a symbolic link: never followed) or "special" (a
    # device, socket or pipe: never read)


def _git(root: Path, *args: str, data: bytes | None = None) -> bytes:
    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args], input=data, capture_output=True,
            timeout=_GIT_TIMEOUT_S, check=False,
        )
    except FileNotFoundError as exc:
        raise TrainingError(f"{root} is a git repository but `git` is not installed") from exc
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise TrainingError(f"git {args[0]} failed in {root}: {detail[-1] if detail else ''}")
    return done.stdout


def open_source(path: Path, name: str) -> Source:
    """Describe the repository or directory at ``path`` (a clear error if unusable)."""
    if not path.exists():
        raise TrainingError(f"{path}: no such file or directory")
    if not path.is_dir():
        raise TrainingError(f"{path} is not a directory (give a repository or a folder of code)")
    if not os.access(path, os.R_OK | os.X_OK):
        raise TrainingError(f"{path}: permission denied (cannot list it)")
    if not (path / ".git").exists():
        return Source(name, path, "directory", license=_license(path))
    try:
        commit = _git(path, "rev-parse", "--verify", "-q", "HEAD^{commit}").decode().strip()
    except TrainingError as exc:
        raise TrainingError(f"{path} is a git repository with no commits (commit first)") from exc
    log = _git(path, "log", "--format=%an%x00%ae%x00%cn%x00%ce", "HEAD").decode("utf-8", "replace")
    names, emails = set(), set()
    for line in log.splitlines():
        an, ae, cn, ce = [*line.split("\0"), "", "", "", ""][:4]
        names.update(n.strip() for n in (an, cn) if n.strip())
        emails.update(e.strip() for e in (ae, ce) if "@" in e)
    return Source(
        name, path, "git", commit, _license(path, commit), tuple(sorted(names)),
        tuple(sorted(emails)),
    )


def _license(root: Path, commit: str = "") -> str:
    """The license of the root LICENSE/COPYING file: at ``commit`` (git) or on disk."""
    if not commit:
        return from_directory(root)
    for name in LICENSE_FILES:
        try:
            text = _git(root, "show", f"{commit}:{name}").decode("utf-8", "replace")
        except TrainingError:
            continue
        return from_text(text[:20000])
    return ""


def list_files(source: Source) -> list[Entry]:
    """Every file of the source, sorted by path; unreadable ones are raised about."""
    if source.kind == "git":
        return _git_entries(source.root)
    return _dir_entries(source.root)


def _git_entries(root: Path) -> list[Entry]:
    out = _git(root, "ls-tree", "-r", "-l", "-z", "--full-tree", "HEAD")
    entries = []
    for record in out.decode("utf-8", "surrogateescape").split("\0"):
        if not record:
            continue
        meta, path = record.split("\t", 1)
        mode, kind, blob, size = meta.split()
        if kind != "blob":  # a submodule: not this repository's code
            continue
        entries.append(Entry(path, int(size), blob, "link" if mode == "120000" else "file"))
    return sorted(entries, key=lambda e: e.path)


def _dir_entries(root: Path) -> list[Entry]:
    entries = []
    for top, dirs, files in os.walk(root, onerror=_raise):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in files:
            full = Path(top, name)
            rel = full.relative_to(root).as_posix()
            if full.is_symlink():
                entries.append(Entry(rel, 0, kind="link"))
                continue
            try:
                st = full.stat()
                kind = "file" if S_ISREG(st.st_mode) else "special"
                entries.append(Entry(rel, st.st_size, kind=kind))
            except OSError as exc:
                raise TrainingError(f"cannot read {full}: {exc.strerror}") from exc
    return sorted(entries, key=lambda e: e.path)


def _raise(exc: OSError) -> None:
    raise TrainingError(f"cannot read {exc.filename}: {exc.strerror}") from exc


def read_files(source: Source, entries: list[Entry]) -> Iterator[tuple[Entry, bytes]]:
    """The bytes of each entry, in order (git: from the object store, one process)."""
    if source.kind != "git":
        for entry in entries:
            path = source.root / entry.path
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise TrainingError(f"cannot read {path}: {exc.strerror}") from exc
            yield entry, data
        return
    if not entries:
        return
    out = _git(source.root, "cat-file", "--batch", data="".join(
        f"{e.blob}\n" for e in entries).encode())
    pos = 0
    for entry in entries:
        header_end = out.index(b"\n", pos)
        size = int(out[pos:header_end].split()[2])
        start = header_end + 1
        yield entry, out[start : start + size]
        pos = start + size + 1
