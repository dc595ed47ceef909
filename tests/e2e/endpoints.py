"""Real inference endpoints on 127.0.0.1 for the shared-endpoint tests."""

from __future__ import annotations

import contextlib
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from support.localhttp import free_port


def wait_until_up(
    url: str,
    proc: subprocess.Popen,
    log: Path,
    timeout: float = 90,
    context: ssl.SSLContext | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text()[-3000:]
            raise RuntimeError(f"the endpoint exited ({proc.returncode}):\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the endpoint did not come up in {timeout} s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def running(
    command: list[str],
    url: str,
    ready_path: str,
    env: dict[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> Iterator[str]:
    """``command`` started (output to a log file), ``url`` yielded once ``ready_path``
    answers 200, the process stopped afterwards."""
    log = Path(tempfile.mkdtemp(prefix="endpoint-")) / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_until_up(url + ready_path, proc, log, context=context)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def llama_cpp_python_server(model: Path, port: int | None = None):
    """``python -m llama_cpp.server`` (the OpenAI-compatible server that ships with
    llama-cpp-python) on the model; yields its base URL."""
    port = port or free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model),
        "--host", "127.0.0.1", "--port", str(port),
        "--n_ctx", "2048", "--n_threads", "2",
    ]  # fmt: skip
    return running(command, f"http://127.0.0.1:{port}", "/v1/models")


def team_endpoint(args: list[str], env: dict[str, str], context: ssl.SSLContext | None = None):
    """``safecoder-lsp endpoint serve ARGS`` on a free port; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "safecoder_lsp", "endpoint", "serve"]
    command += ["--host", "127.0.0.1", "--port", str(port), *args]
    url = f"{'https' if context else 'http'}://127.0.0.1:{port}"
    return running(command, url, "/health", env, context)


def add_token(name: str, tokens: Path, env: dict[str, str]) -> str:
    """A new API token (``endpoint token add``), as the command prints it."""
    command = [sys.executable, "-m", "safecoder_lsp", "endpoint", "token", "add", name]
    proc = subprocess.run(
        [*command, "--tokens", str(tokens)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    token = proc.stdout.strip().splitlines()[-1].strip()
    assert token.startswith("sc-"), proc.stdout
    return token
