"""Workspace files read from disk, in the background and bounded.

Source files under the workspace roots (breadth first, in name order) are read once
on a thread of their own, never on the keystroke path: big, binary and vendored
files are skipped (dependency and build folders, hidden folders), and the number of
files and the bytes read are capped. Each file is kept as its chunks and its
top-level definitions; the text itself is not kept.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from languages import CODE_SUFFIXES
from safecoder_lsp.repo_context.chunks import Chunk, split
from safecoder_lsp.repo_context.definitions import Definition, definitions

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 200_000
MAX_TOTAL_BYTES = 16_000_000
BINARY_PROBE = 8192

SKIP_DIRS = frozenset(
    [
        "node_modules",
        "vendor",
        "vendors",
        "third_party",
        "third-party",
        "site-packages",
        "dist",
        "build",
        "out",
        "target",
        "__pycache__",
        "venv",
        "env",
        "bower_components",
        "Pods",
        "DerivedData",
        "coverage",
    ]
)


@dataclass(frozen=True)
class SourceFile:
    path: str  # relative to its workspace root, with forward slashes
    uri: str
    chunks: tuple[Chunk, ...]
    definitions: tuple[Definition, ...]


def wanted_dir(name: str) -> bool:
    return not name.startswith(".") and name not in SKIP_DIRS and not name.endswith(".egg-info")


def read_source(path: Path, max_bytes: int = MAX_FILE_BYTES) -> str | None:
    """The text of a source file, or None when it is too big, binary or not UTF-8."""
    try:
        if path.suffix.lower() not in CODE_SUFFIXES or path.stat().st_size > max_bytes:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if b"\x00" in data[:BINARY_PROBE]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def source_file(root: Path, path: Path, text: str) -> SourceFile:
    rel = path.relative_to(root).as_posix()
    return SourceFile(
        rel, path.resolve().as_uri(), tuple(split(rel, text)), tuple(definitions(rel, text))
    )


class WorkspaceFiles:
    """The source files of the workspace roots; ``files()`` is what was read so far."""

    def __init__(
        self,
        roots: list[Path],
        max_files: int = 500,
        max_file_bytes: int = MAX_FILE_BYTES,
        max_total_bytes: int = MAX_TOTAL_BYTES,
    ) -> None:
        self.roots = [Path(r).resolve() for r in roots]
        self.max_files = max_files
        self.max_file_bytes = max_file_bytes
        self.max_total_bytes = max_total_bytes
        self._files: tuple[SourceFile, ...] = ()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.done = threading.Event()
        self.version = 0  # bumps whenever files() changes

    @property
    def name(self) -> str:
        """The repository's name: the first root's folder name."""
        return self.roots[0].name if self.roots else "workspace"

    def files(self) -> tuple[SourceFile, ...]:
        return self._files

    def relative(self, uri: str) -> str:
        """The path shown for ``uri``: relative to its root, else its file name."""
        if uri.startswith("file://"):
            try:
                from urllib.parse import unquote, urlparse

                path = Path(unquote(urlparse(uri).path)).resolve()
                for root in self.roots:
                    if path.is_relative_to(root):
                        return path.relative_to(root).as_posix()
            except (ValueError, OSError):
                pass
        return uri.rsplit("/", 1)[-1] or uri

    def start(self) -> None:
        """Read the files on a background thread (once)."""
        if self._thread is None and self.roots and self.max_files > 0:
            self._thread = threading.Thread(target=self.load, name="workspace-files", daemon=True)
            self._thread.start()
        elif not self.roots or self.max_files <= 0:
            self.done.set()

    def stop(self) -> None:
        self._stop.set()

    def load(self) -> None:
        """Read the files now (the background thread's work; the CLI calls it)."""
        batch: list[SourceFile] = []
        total = 0
        try:
            for root, path in self._candidates():
                if self._stop.is_set() or len(self._files) + len(batch) >= self.max_files:
                    break
                text = read_source(path, self.max_file_bytes)
                if text is None or total + len(text) > self.max_total_bytes:
                    continue
                total += len(text)
                batch.append(source_file(root, path, text))
                if len(batch) >= 32:
                    self._publish(batch)
                    batch = []
            self._publish(batch)
        except Exception as exc:  # a workspace that cannot be read gives no context
            # The error's type only: a message or traceback could quote a file's code.
            log.warning("reading the workspace files stopped: %s", type(exc).__name__)
        finally:
            self.done.set()

    def _publish(self, batch: list[SourceFile]) -> None:
        if batch:
            self._files = self._files + tuple(batch)
            self.version += 1

    def _candidates(self):
        """(root, file) breadth first, in name order, through wanted folders only."""
        for root in self.roots:
            queue: deque[Path] = deque([root])
            while queue:
                folder = queue.popleft()
                try:
                    entries = sorted(folder.iterdir(), key=lambda p: p.name)
                except OSError:
                    continue
                for entry in entries:
                    if entry.is_symlink():
                        continue
                    if entry.is_dir():
                        if wanted_dir(entry.name):
                            queue.append(entry)
                    elif entry.suffix.lower() in CODE_SUFFIXES:
                        yield root, entry
