"""The real C++ ``llama-server`` from llama.cpp, for tests and benchmarks.

``binary()`` builds ``llama-server`` once from the llama.cpp sources vendored in the
llama-cpp-python sdist (the same version the project depends on) and caches it under
``<user cache>/safecoder-lsp/llama-server/<version>/``; ``serve()`` runs it on a model
and yields its base URL once ``GET /health`` answers 200.

The build needs only the package index (for the sdist; pip keeps it in its http cache),
cmake and a C/C++ compiler: curl, OpenSSL and the web UI download are switched off.

Imports: from a test file, ``from support.llama_server import serve`` (``tests/`` is
on ``sys.path`` through ``tests/conftest.py``); from the repository root,
``from tests.support.llama_server import serve``. To build by hand and print the path:
``python -m tests.support.llama_server`` (``--serve MODEL`` runs a server until ^C).

``SAFECODER_LLAMA_SERVER=/path/to/llama-server`` skips the build and uses that binary.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

from support.localhttp import free_port

VERSION = "0.3.36"  # llama-cpp-python, as pinned in pyproject.toml
ENV_BINARY = "SAFECODER_LLAMA_SERVER"
BUILD_JOBS = 2
CMAKE_ARGS = [
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DGGML_NATIVE=ON",
    "-DLLAMA_BUILD_COMMON=ON",
    "-DLLAMA_BUILD_TOOLS=ON",  # tools/ holds server/
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_APP=OFF",
    # No network and no extra system libraries: LLAMA_CURL is deprecated (ignored)
    # in this version but kept off for older ones; the web UI would otherwise be
    # downloaded from a Hugging Face bucket at build time.
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
]
# Defaults for serve(), each skipped when extra_args already sets it (any spelling).
SERVE_DEFAULTS: list[tuple[tuple[str, ...], str]] = [
    (("-c", "--ctx-size"), "4096"),
    (("-t", "--threads"), "2"),
    (("-np", "--parallel"), "1"),
]
_TAIL_LINES = 60


def _log(msg: str) -> None:
    print(f"[llama-server] {msg}", file=sys.stderr, flush=True)


def cache_dir() -> Path:
    """``<user cache>/safecoder-lsp/llama-server/<version>`` (XDG_CACHE_HOME respected).

    The same cache root as the model store (``engine.models.model_dir`` minus
    ``models``), without its SAFECODER_MODEL_DIR override, which is about models.
    """
    try:
        import platformdirs

        root = Path(platformdirs.user_cache_dir("safecoder-lsp"))
    except ImportError:  # pragma: no cover - platformdirs is a project dependency
        xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
        root = Path(xdg or Path.home() / ".cache") / "safecoder-lsp"
    return root / "llama-server" / VERSION


def _tail(path: Path, lines: int = _TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _usable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def binary() -> Path:
    """The path of a built ``llama-server``, building it (once, under a lock) if needed."""
    override = os.environ.get(ENV_BINARY, "").strip()
    if override:
        path = Path(override).expanduser()
        if not _usable(path):
            raise RuntimeError(f"{ENV_BINARY}={override} is not an executable file")
        return path
    out_dir = cache_dir()
    target = out_dir / "llama-server"
    if _usable(target):
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".build.lock", "w") as lock:
        if _usable(target):
            return target
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _log(f"another process is building {target}; waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if not _usable(target):  # the other process may have finished it
            _build(out_dir, target)
    return target


def _cmake() -> str:
    found = shutil.which("cmake")
    if found:
        return found
    beside = Path(sys.executable).parent / "cmake"  # `pip install cmake` in this venv
    if _usable(beside):
        return str(beside)
    raise RuntimeError("cmake not found: install it (e.g. `pip install cmake` into the virtualenv)")


def _nice() -> list[str]:
    nice = shutil.which("nice")
    return [nice, "-n", "10"] if nice else []


def _run_logged(cmd: list[str], log_path: Path, step: str, cwd: Path | None = None) -> None:
    """Run ``cmd`` appending its output to ``log_path``; show cmake's progress on stderr."""
    with open(log_path, "a") as log:
        log.write(f"\n$ {' '.join(cmd)}\n")
        log.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            start_new_session=True,  # its own process group: stopped as a whole below
        )
        assert proc.stdout is not None
        try:
            shown = ""
            for line in proc.stdout:
                log.write(line)
                match = re.match(r"\[\s*(\d+)%\]", line)
                if match and match.group(1) != shown:
                    shown = match.group(1)
                    _log(f"{step}: {line.strip()}")
            rc = proc.wait()
        except BaseException:  # ^C or a pytest timeout: leave no compilers running
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    if rc != 0:
        raise RuntimeError(
            f"llama-server build failed at {step} (exit {rc}); log {log_path}; tail:\n"
            + _tail(log_path)
        )


def _build(out_dir: Path, target: Path) -> None:
    started = time.monotonic()
    log_path = out_dir / "build.log"
    log_path.write_text(f"building llama-server from llama-cpp-python=={VERSION}\n")
    cmake = _cmake()
    _log(f"building llama-server {VERSION} into {out_dir} (log: {log_path})")
    for stale in out_dir.glob(".build-*"):  # left by a killed build (we hold the lock)
        shutil.rmtree(stale, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=out_dir))
    try:
        _log("fetching the llama-cpp-python sdist with pip")
        _run_logged(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                f"llama-cpp-python=={VERSION}",
                "--no-deps",
                "--no-binary",
                ":all:",
                # Metadata is prepared with this environment's scikit-build-core (dev
                # extra): in an isolated build environment pip would compile cmake
                # itself from source (``--no-binary :all:`` applies to it too).
                "--no-build-isolation",
                "--disable-pip-version-check",
                "-d",
                str(work / "sdist"),
            ],
            log_path,
            "pip download",
        )
        sdists = sorted((work / "sdist").glob("llama_cpp_python-*.tar.gz"))
        if not sdists:
            raise RuntimeError(f"pip download produced no sdist; log {log_path}")
        _log(f"unpacking {sdists[0].name}")
        with tarfile.open(sdists[0]) as tar:
            tar.extractall(work / "src", filter="data")
        sources = next((work / "src").glob("*/vendor/llama.cpp"), None)
        if sources is None or not (sources / "CMakeLists.txt").is_file():
            raise RuntimeError(f"no vendor/llama.cpp in {sdists[0].name}")
        build = work / "build"
        _log("cmake configure")
        _run_logged(
            [*_nice(), cmake, "-S", str(sources), "-B", str(build), *CMAKE_ARGS],
            log_path,
            "configure",
        )
        _log(f"cmake build --target llama-server -j {BUILD_JOBS} (several minutes)")
        _run_logged(
            [
                *_nice(),
                cmake,
                "--build",
                str(build),
                "--target",
                "llama-server",
                "-j",
                str(BUILD_JOBS),
            ],
            log_path,
            "build",
        )
        built = build / "bin" / "llama-server"
        if not _usable(built):
            raise RuntimeError(f"build finished without {built}; log {log_path}")
        partial = out_dir / f".llama-server.{os.getpid()}.tmp"
        shutil.copy2(built, partial)
        partial.chmod(0o755)
        os.replace(partial, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _log(
        f"built {target} ({target.stat().st_size / 1e6:.1f} MB) "
        f"in {time.monotonic() - started:.0f} s"
    )


# -- serving ----------------------------------------------------------------------
def _has_option(args: Sequence[str], names: tuple[str, ...]) -> bool:
    return any(arg in names or arg.split("=", 1)[0] in names for arg in args)


def _die_with_parent() -> None:  # runs in the child before exec (Linux only)
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


# Direct connections only: an http_proxy in the environment must not see 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _health(url: str) -> int | None:
    try:
        with _OPENER.open(url + "/health", timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:  # 503 while the model loads
        return exc.code
    except (OSError, urllib.error.URLError):
        return None


def _stop(proc: subprocess.Popen, timeout: float = 10) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def serve(
    model: Path,
    *,
    port: int | None = None,
    extra_args: Sequence[str] = (),
    ready_timeout: float = 120,
) -> Iterator[str]:
    """Run ``llama-server`` on ``model`` at 127.0.0.1 and yield its base URL.

    Defaults ``--ctx-size 4096 --threads 2 --parallel 1`` apply unless ``extra_args``
    sets them. The server's output goes to a log file in a temporary directory (no
    pipe to fill up); the directory is removed after a clean run and kept (its path is
    printed) when startup or the body failed. A server that does not become healthy
    in ``ready_timeout`` seconds raises RuntimeError with the log's tail.
    """
    exe = binary()
    model = Path(model)
    if not model.is_file():
        raise RuntimeError(f"model not found: {model}")
    extra = list(extra_args)
    defaults: list[str] = []
    for names, value in SERVE_DEFAULTS:
        if not _has_option(extra, names):
            defaults += [names[-1], value]
    log_dir = Path(tempfile.mkdtemp(prefix="llama-server-"))
    log_path = log_dir / "server.log"
    tries = 1 if port is not None else 3  # a picked free port can be taken meanwhile
    proc: subprocess.Popen | None = None
    url = ""
    ok = False
    try:
        for attempt in range(1, tries + 1):
            use_port = port if port is not None else free_port()
            url = f"http://127.0.0.1:{use_port}"
            cmd = [
                str(exe),
                "--model",
                str(model),
                "--host",
                "127.0.0.1",
                "--port",
                str(use_port),
                *defaults,
                *extra,
            ]
            with open(log_path, "ab") as log:
                log.write(f"$ {' '.join(cmd)}\n".encode())
                log.flush()
                proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                )
            deadline = time.monotonic() + ready_timeout
            while proc.poll() is None and time.monotonic() < deadline:
                if _health(url) == 200:
                    break
                time.sleep(0.1)
            else:
                rc = proc.poll()
                _stop(proc)
                tail = _tail(log_path)
                if rc is not None and attempt < tries and "bind" in tail.lower():
                    continue  # lost the port race: pick another
                why = (
                    f"exited with {rc}"
                    if rc is not None
                    else f"not healthy after {ready_timeout:g} s"
                )
                raise RuntimeError(f"llama-server {why}; log {log_path}; tail:\n{tail}")
            break
        yield url
        ok = True
    finally:
        if proc is not None:
            _stop(proc)
        if ok:
            shutil.rmtree(log_dir, ignore_errors=True)
        else:
            _log(f"server log kept: {log_path}")


def request(
    url: str, method: str, path: str, body: dict | None = None, timeout: float = 60
) -> tuple[int, dict[str, str], bytes]:
    """One request to a server started by :func:`serve`: its status, headers (names in
    lower case) and body, the chunked transfer coding undone (an SSE body is the
    stream itself)."""
    conn = http.client.HTTPConnection(url.removeprefix("http://"), timeout=timeout)
    try:
        payload = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, payload, headers)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m tests.support.llama_server",
        description="Build (once) the llama.cpp llama-server and print its path.",
    )
    parser.add_argument("--serve", metavar="MODEL", type=Path, help="then run it on MODEL until ^C")
    args = parser.parse_args(argv)
    print(binary())
    if args.serve:
        with serve(args.serve) as url:
            print(url, flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
