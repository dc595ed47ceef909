"""``safecoder-lsp endpoint token add|list|revoke`` and ``endpoint serve``: tokens shown
once and never listed, start refused with a clear message (no tokens, bad TLS
options, missing model), and a real serve that answers and stops on SIGTERM."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.localhttp import free_port

from safecoder_lsp.cli import main
from safecoder_lsp.endpoint import tokens


def test_token_add_list_revoke(tmp_path, capsys):
    path = tmp_path / "sub" / "tokens.json"
    assert main(["endpoint", "token", "add", "alice", "--tokens", str(path)]) == 0
    out, err = capsys.readouterr()
    secret = out.strip()
    assert secret.startswith("sc-") and len(secret) == 46 and "\n" not in secret
    assert "shown only this once" in err and "engine.api_token_file" in err
    assert main(["endpoint", "token", "add", "bob", "--tokens", str(path)]) == 0
    capsys.readouterr()

    assert main(["endpoint", "token", "list", "--tokens", str(path)]) == 0
    listing = capsys.readouterr().out
    assert [line.split()[0] for line in listing.splitlines()] == ["alice", "bob"]
    assert "created 20" in listing
    entries = tokens.read_entries(path)
    assert secret not in listing and all(e.sha256 not in listing for e in entries)

    assert main(["endpoint", "token", "add", "alice", "--tokens", str(path)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["endpoint", "token", "add", "no spaces", "--tokens", str(path)]) == 1
    assert "not a usable token name" in capsys.readouterr().err

    assert main(["endpoint", "token", "revoke", "alice", "--tokens", str(path)]) == 0
    capsys.readouterr()
    assert [e.name for e in tokens.read_entries(path)] == ["bob"]
    assert main(["endpoint", "token", "revoke", "alice", "--tokens", str(path)]) == 1
    err = capsys.readouterr().err
    assert "no token named 'alice'" in err and "fix:" in err
    assert main(["endpoint", "token", "list", "--tokens", str(tmp_path / "none.json")]) == 0
    assert "no tokens" in capsys.readouterr().err


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFECODER_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")  # no user config, no default tokens
    env.update(extra)
    return env


def _serve(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "safecoder_lsp", "endpoint", "serve", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(tmp_path, **env),
    )


def test_serve_without_tokens_refuses_to_start(tmp_path):
    done = _serve(tmp_path, "--port", "1")
    assert done.returncode == 1
    assert "error: no API tokens in" in done.stderr
    assert "endpoint-tokens.json" in done.stderr  # the default file, in the config dir
    assert "safecoder-lsp endpoint token add NAME" in done.stderr and "--no-auth" in done.stderr


def test_serve_refuses_tls_options_that_cannot_work(tmp_path):
    done = _serve(tmp_path, "--no-auth", "--tls-key", str(tmp_path / "k.pem"))
    assert done.returncode == 1 and "need --tls-cert" in done.stderr
    done = _serve(tmp_path, "--no-auth", "--tls-cert", str(tmp_path / "missing.pem"))
    assert done.returncode == 1
    assert "--tls-cert" in done.stderr and "does not exist" in done.stderr


def test_serve_with_a_missing_model_says_how_to_fix_it(tmp_path):
    done = _serve(tmp_path, "--no-auth", SAFECODER_MODEL_PATH=str(tmp_path / "nope.gguf"))
    assert done.returncode == 1
    assert "nope.gguf does not exist" in done.stderr and "fix:" in done.stderr


@pytest.mark.model
def test_serve_with_fixed_shape_steps_and_no_gpu_says_what_it_needs(tmp_path):
    done = _serve(tmp_path, "--no-auth", "--step-tokens", "32", "--slots", "4")
    assert done.returncode == 1
    assert "shared KV buffer" in done.stderr and "engine.n_gpu_layers" in done.stderr


@contextlib.contextmanager
def _serving(
    tmp_path: Path, options: list[str], ready: str, **env: str
) -> Iterator[tuple[int, list[str], list[str]]]:
    """``endpoint serve OPTIONS`` on a free port: (port, stdout lines, stderr lines)
    once stdout has a line containing ``ready``; stopped with SIGTERM afterwards,
    which must end it cleanly."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "safecoder_lsp", "endpoint", "serve", "--port", str(port), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp_path, **env),
    )
    out: list[str] = []
    err: list[str] = []
    for stream, lines in ((proc.stdout, out), (proc.stderr, err)):
        threading.Thread(target=lambda s=stream, x=lines: x.extend(s), daemon=True).start()
    try:
        deadline = time.monotonic() + 120
        while not any(ready in line for line in out):
            assert proc.poll() is None, "".join(err)
            assert time.monotonic() < deadline, "no banner"
            time.sleep(0.05)
        yield port, out, err
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        time.sleep(0.2)  # the reader threads' last lines
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.model
def test_serve_answers_and_stops_cleanly_on_sigterm(tmp_path, model_path):
    path = tmp_path / "tokens.json"
    secret = tokens.add(path, "alice")
    options = ["--tokens", str(path), "--max-tokens", "4"]
    env = {"SAFECODER_MODEL_PATH": str(model_path), "SAFECODER_ENGINE_N_THREADS": "1"}
    with _serving(tmp_path, options, "api_token_file", **env) as (port, out, err):
        banner = "".join(out)
        assert f"http://127.0.0.1:{port}/v1/completions" in banner
        assert 'kind = "openai"' in banner and f'url = "http://127.0.0.1:{port}"' in banner
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request(
            "POST",
            "/v1/completions",
            body=json.dumps({"prompt": "def add(a, b):\n    return ", "suffix": "\n"}),
            headers={"Authorization": f"Bearer {secret}"},
        )
        answer = conn.getresponse()
        assert answer.status == 200
        assert json.loads(answer.read())["usage"]["completion_tokens"] <= 4
        conn.close()
    log = "".join(err)
    assert "shutting down" in log
    assert "loaded in" in log and "token=alice status=200" in log
    assert "def add" not in log  # no code in the log (log.include_code is off)


def _serve_once(tmp_path: Path, model_path: Path, *options: str) -> str:
    """Start ``endpoint serve OPTIONS`` on the model (model directory under tmp_path),
    get one real completion, stop it; its stderr."""
    env = {
        "SAFECODER_MODEL_PATH": str(model_path),
        "SAFECODER_MODEL_DIR": str(tmp_path / "models"),
        "SAFECODER_ENGINE_N_THREADS": "2",
    }
    options = ("--no-auth", "--max-tokens", "8", *options)
    with _serving(tmp_path, list(options), "listening on", **env) as (port, _, err):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        body = {"prompt": "def add(a, b):\n    return ", "suffix": "\n", "temperature": 0}
        conn.request("POST", "/v1/completions", body=json.dumps(body))
        answer = conn.getresponse()
        assert answer.status == 200
        assert "a + b" in json.loads(answer.read())["choices"][0]["text"]
        conn.close()
    return "".join(err)


@pytest.mark.model
def test_16_bit_weights_are_made_once_and_serve_the_same_answer(tmp_path, model_path):
    log = _serve_once(tmp_path, model_path, "--weights", "16bit", "--slots", "2")
    derived = list((tmp_path / "models" / "derived").glob("*.16bit.gguf"))
    assert len(derived) == 1
    assert f"matrices as 16-bit floats from {model_path.name}: {derived[0]}" in log
    assert "made in" in log and "kept for later starts" in log
    stamp = derived[0].stat().st_mtime_ns
    log = _serve_once(tmp_path, model_path, "--weights", "16bit", "--slots", "2")
    assert "made at an earlier start" in log
    assert derived[0].stat().st_mtime_ns == stamp


@pytest.mark.model
def test_auto_weights_follow_this_cpu_and_original_keeps_the_file(tmp_path, model_path):
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode()
    pays = "AVX512 = 1" in info and "AVX512_BF16 = 1" in info  # engine.relayout.choose
    log = _serve_once(tmp_path, model_path, "--slots", "2")  # --weights auto
    derived = tmp_path / "models" / "derived"
    if pays:
        assert "weights: 16-bit matrices (batched decoding on a CPU with AVX512 and " in log
        assert len(list(derived.glob("*.16bit.gguf"))) == 1
    else:
        assert "weights: original (this CPU has no AVX512" in log
        assert not derived.exists()
    shutil.rmtree(derived, ignore_errors=True)
    log = _serve_once(tmp_path, model_path, "--slots", "2", "--weights", "original")
    assert "weights: original (asked for)" in log and not derived.exists()
