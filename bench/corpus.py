"""A real corpus for the attribution benchmark: pinned wheels from the package index.

Each wheel is fetched with ``pip download --no-deps --only-binary=:all:`` and unpacked
into ``<cache>/<name>-<version>/`` (default cache ``~/.cache/safecoder-lsp/bench-corpus``,
outside the repository); an unpacked wheel is kept and never fetched again. One wheel
is one indexed source, ``pypi:<name>==<version>``, its files read by
``attribution.sources.directory`` (code suffixes, files over 1 MB skipped) and licensed
by the file's own SPDX header, else the wheel's METADATA, else its LICENSE file.

Sizes (code text indexed, files of at most 1 MB, measured on these pins): see
``FULL``; together about 586 MB. ``HELD_OUT`` wheels are never indexed: the
false-match check queries them.
Usage: python -m bench.corpus [--quick] [--corpus-dir DIR]  (fetch and print sizes)
"""

from __future__ import annotations

import argparse
import contextlib
import email.parser
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from attribution import licenses
from attribution.index import SourceDocument
from attribution.sources import Skipped, directory


@dataclass(frozen=True)
class Wheel:
    name: str
    version: str

    @property
    def repo(self) -> str:
        return f"pypi:{self.name}=={self.version}"

    @property
    def folder(self) -> str:
        return f"{self.name}-{self.version}"


# Indexed, smallest first (so --size-mb keeps a mix of projects). The MB are the code
# text sources.directory reads from each (files over 1 MB skipped), measured.
FULL: tuple[Wheel, ...] = (
    Wheel("botocore", "1.35.80"),  # 1.3 MB (the rest is JSON data)
    Wheel("django", "5.1.4"),  # 6.8 MB
    Wheel("kubernetes", "31.0.0"),  # 13.5 MB
    Wheel("scipy", "1.14.1"),  # 17.9 MB (cp311 manylinux)
    Wheel("pandas", "2.2.3"),  # 20.5 MB (cp311 manylinux)
    Wheel("sympy", "1.13.3"),  # 25.7 MB
    Wheel("plotly", "5.24.1"),  # 35.4 MB
    Wheel("transformers", "4.46.3"),  # 44.2 MB
    Wheel("azure-mgmt-compute", "33.1.0"),  # 57.4 MB
    Wheel("google-cloud-aiplatform", "1.74.0"),  # 60.3 MB
    Wheel("oci", "2.140.0"),  # 149.6 MB
    Wheel("ansible", "10.7.0"),  # 153.5 MB
)
HELD_OUT: tuple[Wheel, ...] = (
    Wheel("networkx", "3.4.2"),  # 6.1 MB
    Wheel("rich", "13.9.4"),  # 0.9 MB
)
QUICK: tuple[Wheel, ...] = (
    Wheel("click", "8.1.7"),  # 0.3 MB
    Wheel("requests", "2.32.3"),  # 0.2 MB
    Wheel("attrs", "24.2.0"),  # 0.2 MB
    Wheel("idna", "3.10"),  # 0.3 MB
)
QUICK_HELD_OUT: tuple[Wheel, ...] = (Wheel("rich", "13.9.4"),)


def default_cache() -> Path:
    return Path.home() / ".cache" / "safecoder-lsp" / "bench-corpus"


def fetch(wheel: Wheel, cache: Path) -> Path:
    """The unpacked wheel, downloaded and unpacked first when not in ``cache``."""
    target = cache / wheel.folder
    if (target / ".complete").is_file():
        return target
    downloads = cache / ".downloads" / wheel.folder
    shutil.rmtree(downloads, ignore_errors=True)
    downloads.mkdir(parents=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-d",
        str(downloads),
        f"{wheel.name}=={wheel.version}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    files = sorted(downloads.glob("*.whl"))
    if done.returncode != 0 or len(files) != 1:
        raise RuntimeError(
            f"pip download {wheel.name}=={wheel.version} failed "
            f"(exit {done.returncode}): {done.stderr.strip()[-2000:]}"
        )
    partial = cache / f".{wheel.folder}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    with zipfile.ZipFile(files[0]) as zf:
        zf.extractall(partial)
    (partial / ".complete").write_text(files[0].name + "\n")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)
    shutil.rmtree(downloads, ignore_errors=True)
    with contextlib.suppress(OSError):
        downloads.parent.rmdir()  # only when no other download is under way
    return target


def wheel_file(root: Path) -> str:
    """The name of the wheel ``root`` was unpacked from."""
    try:
        return (root / ".complete").read_text().strip()
    except OSError:
        return ""


def wheel_license(root: Path) -> tuple[str, str]:
    """(SPDX expression, where it came from) for an unpacked wheel: METADATA's
    License-Expression / License field / classifiers, else the LICENSE/COPYING file
    in .dist-info."""
    infos = sorted(root.glob("*.dist-info"))
    if not infos:
        return "", "no .dist-info"
    info = infos[0]
    try:
        meta = email.parser.HeaderParser().parsestr(
            (info / "METADATA").read_text(encoding="utf-8", errors="replace")
        )
    except OSError:
        meta = None
    if meta is not None:
        field = meta.get("License")
        found = licenses.from_metadata(
            meta.get("License-Expression"), field, meta.get_all("Classifier") or []
        )
        if found:
            return found, "METADATA"
    for folder in (info, info / "licenses"):
        found = licenses.from_directory(folder)
        if found:
            return found, f"{folder.relative_to(root).as_posix()} license file"
    return "", "unknown"


def documents(wheel: Wheel, root: Path, skipped: Skipped) -> Iterator[SourceDocument]:
    """The wheel's code files as documents of source ``wheel.repo``."""
    lic, _ = wheel_license(root)
    for doc in directory(root, skipped):
        # directory() licenses a file by its SPDX header or a LICENSE file above it;
        # a wheel keeps its LICENSE in .dist-info, so METADATA's license is the default.
        yield SourceDocument(wheel.repo, doc.path, doc.license or lic, doc.text)


def code_bytes(root: Path) -> int:
    """UTF-8 bytes of the code text ``directory`` reads under ``root``."""
    return sum(len(d.text.encode("utf-8", "surrogatepass")) for d in directory(root, Skipped()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--corpus-dir", type=Path, default=default_cache())
    args = parser.parse_args()
    wheels = (QUICK + QUICK_HELD_OUT) if args.quick else (FULL + HELD_OUT)
    total = 0
    for wheel in wheels:
        root = fetch(wheel, args.corpus_dir)
        size = code_bytes(root)
        total += size
        lic, origin = wheel_license(root)
        print(f"{wheel.repo:40s} {size / 1e6:8.1f} MB  {lic or '?'} ({origin})")
    print(f"total {total / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
