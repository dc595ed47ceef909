"""Corpus sources: where the documents of an index come from.

- ``directory(path)``: every text file under a folder (a git checkout included): the
  repo is the git remote URL when there is one, the license the nearest LICENSE/COPYING
  file up to the root, overridden by a file's own SPDX-License-Identifier header;
- ``python_distributions()``: the source files of the installed Python packages, with
  the license from their metadata: every machine has a real licensed corpus.

Binary files (a NUL byte in the first 8 KB), unreadable files and files over
``max_bytes`` are skipped and counted in ``Skipped``; nothing here raises for one bad
file.
"""

from __future__ import annotations

import configparser
import importlib.metadata
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from attribution import licenses
from attribution.index import SourceDocument
from languages import CODE_SUFFIXES

SKIP_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv"})
MAX_BYTES = 1 << 20


@dataclass
class Skipped:
    binary: int = 0
    too_big: int = 0
    unreadable: list[str] = field(default_factory=list)


def read_text(path: Path, skipped: Skipped, max_bytes: int = MAX_BYTES) -> str | None:
    try:
        if path.stat().st_size > max_bytes:
            skipped.too_big += 1
            return None
        data = path.read_bytes()
    except OSError as exc:
        skipped.unreadable.append(f"{path}: {exc.strerror or exc}")
        return None
    if b"\0" in data[:8192]:
        skipped.binary += 1
        return None
    return data.decode("utf-8", errors="replace")


def git_remote(root: Path) -> str:
    """The URL of the checkout's origin (or first) remote, or ""."""
    config = root / ".git" / "config"
    if not config.is_file():
        return ""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    try:
        parser.read(config, encoding="utf-8")
    except (OSError, configparser.Error):
        return ""
    remotes = [s for s in parser.sections() if s.startswith("remote ")]
    remotes.sort(key=lambda s: s != 'remote "origin"')
    for section in remotes:
        url = parser.get(section, "url", fallback="").strip()
        if url:
            return url
    return ""


def directory(
    root: str | Path, skipped: Skipped | None = None, suffixes: frozenset[str] = CODE_SUFFIXES
) -> Iterator[SourceDocument]:
    root = Path(root).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory")
    skipped = skipped if skipped is not None else Skipped()
    repo = git_remote(root) or str(root)
    folder_license: dict[Path, str] = {}

    def license_of(folder: Path) -> str:
        if folder not in folder_license:
            own = licenses.from_directory(folder)
            parent = folder.parent
            inherited = "" if folder == root or parent == folder else license_of(parent)
            folder_license[folder] = own or inherited
        return folder_license[folder]

    for path in sorted(_walk(root)):
        if path.suffix.lower() not in suffixes:
            continue
        text = read_text(path, skipped)
        if text is None:
            continue
        lic = licenses.from_header(text) or license_of(path.parent)
        yield SourceDocument(repo, path.relative_to(root).as_posix(), lic, text)


def _walk(root: Path) -> Iterator[Path]:
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.is_symlink():
                continue
            if entry.is_dir():
                if entry.name not in SKIP_DIRS:
                    stack.append(entry)
            elif entry.is_file():
                yield entry


def distribution_names() -> list[str]:
    """The installed distributions, each once (the first found on sys.path wins)."""
    return list(_distributions())


def _distributions() -> dict[str, importlib.metadata.Distribution]:
    found: dict[str, importlib.metadata.Distribution] = {}
    for dist in importlib.metadata.distributions():
        name = (dist.metadata.get("Name") or "").lower()
        if name and name not in found:
            found[name] = dist
    return found


def python_distributions(
    skipped: Skipped | None = None,
    suffixes: frozenset[str] = frozenset({".py"}),
    only: Collection[str] | None = None,
) -> Iterator[SourceDocument]:
    """Source files of every installed distribution (or those named in ``only``),
    licensed by its metadata."""
    skipped = skipped if skipped is not None else Skipped()
    for key, dist in _distributions().items():
        if only is not None and key not in only:
            continue
        meta = dist.metadata
        name = meta.get("Name") or key
        lic = licenses.from_metadata(
            meta.get("License-Expression"), meta.get("License"), meta.get_all("Classifier") or []
        )
        repo = _project_url(meta) or f"pypi:{name}"
        for file in dist.files or ():
            if Path(str(file)).suffix not in suffixes:
                continue
            path = Path(str(dist.locate_file(file)))
            text = read_text(path, skipped)
            if text is not None:
                yield SourceDocument(repo, f"{name}/{file}", lic, text)


def _project_url(meta) -> str:
    urls = meta.get_all("Project-URL") or []
    for wanted in ("source", "repository", "code", "homepage"):
        for entry in urls:
            label, _, url = entry.partition(",")
            if label.strip().lower().startswith(wanted) and url.strip():
                return url.strip()
    return (meta.get("Home-page") or "").strip()


# -- The Stack (parquet) -------------------------------------------------------------------
STACK_V1 = ("content", "max_stars_repo_name", "max_stars_repo_path", "max_stars_repo_licenses")
STACK_V2 = ("content", "repo_name", "path", "detected_licenses")
BATCH_ROWS = 256


def open_parquet(path: str | Path):
    """A ``pyarrow.parquet.ParquetFile``, or an AttributionError saying why not."""
    from attribution.index import AttributionError

    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise AttributionError(
            "reading parquet needs pyarrow.", "pip install 'safecoder-lsp[stack]'"
        ) from exc
    try:
        return pq.ParquetFile(path)
    except (OSError, ValueError) as exc:  # pyarrow.lib.ArrowInvalid is a ValueError
        raise AttributionError(
            f"{path} is not a readable parquet file: {exc}.",
            "Give a parquet file of The Stack (v1 or v2 schema).",
        ) from exc


def stack_parquet(
    path: str | Path, skipped: Skipped | None = None, row_groups: Sequence[int] | None = None
) -> Iterator[SourceDocument]:
    """Rows of a The Stack v1 or v2 parquet file (or of its ``row_groups``), streamed
    in batches (never the whole file in memory). A repo's licenses are joined with
    AND: every one must be allowed. Rows without content (v2 files fetched without it)
    are skipped."""
    from attribution.index import AttributionError

    skipped = skipped if skipped is not None else Skipped()
    pf = open_parquet(path)
    names = set(pf.schema_arrow.names)
    if set(STACK_V1) <= names:
        columns = STACK_V1
    elif set(STACK_V2) <= names:
        columns = STACK_V2
    else:
        raise AttributionError(
            f"{path} has neither The Stack v1 nor v2 columns (it has {sorted(names)}).",
            f"v1 needs {', '.join(STACK_V1)}; v2 needs {', '.join(STACK_V2)}.",
        )
    try:
        batches = pf.iter_batches(
            batch_size=BATCH_ROWS, columns=list(columns), row_groups=row_groups
        )
        for batch in batches:
            rows = batch.to_pydict()
            for content, repo, file, lics in zip(*(rows[c] for c in columns), strict=True):
                if not isinstance(content, str):
                    skipped.unreadable.append(f"{repo}/{file}: no content in the parquet row")
                    continue
                if "\0" in content[:8192]:
                    skipped.binary += 1
                    continue
                licenses_ = [x for x in (lics or []) if x and x != "NOASSERTION"]
                yield SourceDocument(
                    repo or "", file or "", " AND ".join(dict.fromkeys(licenses_)), content
                )
    except (OSError, ValueError) as exc:
        raise AttributionError(
            f"{path} broke off while reading: {exc}.", "The file is damaged: fetch it again."
        ) from exc
