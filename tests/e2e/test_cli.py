"""The command line, run as a user runs it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest
from lsp_session import ADD_PREFIX, ADD_SUFFIX, end_of
from support.localhttp import free_port

pytestmark = pytest.mark.model

CLI = [sys.executable, "-m", "safecoder_lsp"]


def run(args, env, **kw):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=120, **kw)


def test_complete_file_json(tmp_path, clean_env):
    src = tmp_path / "add.py"
    src.write_text(ADD_PREFIX + ADD_SUFFIX)
    line, ch = end_of(ADD_PREFIX)
    proc = run(
        ["complete", str(src), "--line", str(line), "--character", str(ch), "--json"], clean_env
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert "a + b" in out["text"]
    assert len(out["request_id"]) == 32
    assert out["source"] == "engine" and out["stats"]["generated_tokens"] > 0


def test_complete_with_a_workspace_and_an_open_file(tmp_path, clean_env):
    (tmp_path / "geo.py").write_text(
        "def haversine_km(lat_a, lon_a, lat_b, lon_b, *, earth_radius_km=6371.0):\n"
        '    """Great-circle distance."""\n    return 0.0\n'
    )
    opened = tmp_path / "elsewhere" / "units.py"
    opened.parent.mkdir()
    opened.write_text("def km_to_miles(km):\n    return km * 0.621371\n")
    src = tmp_path / "trip.py"
    prefix = "from geo import haversine_km\nfrom units import km_to_miles\n\nd = haversine_km("
    src.write_text(prefix + "\n")
    line, ch = end_of(prefix)
    args = ["complete", str(src), "--line", str(line), "--character", str(ch), "--json"]
    env = {**clean_env, "SAFECODER_COMPLETION_TIME_BUDGET_MS": "60000"}
    proc = run([*args, "--show-prompt", "--workspace", str(tmp_path), "--open", str(opened)], env)
    assert proc.returncode == 0, proc.stderr
    prompt = json.loads(proc.stdout)["prompt"]
    assert prompt.startswith(f"<|repo_name|>{tmp_path.name}\n<|file_sep|>")
    assert "<|file_sep|>geo.py\ndef haversine_km(lat_a, lon_a, lat_b, lon_b, *, earth" in prompt
    assert "<|file_sep|>elsewhere/units.py\ndef km_to_miles(km):" in prompt
    # the file's lines before the cursor are its lead lines: after the middle marker
    assert "<|file_sep|>trip.py\n<|fim_prefix|><|fim_suffix|>" in prompt
    assert "<|fim_middle|>from geo import haversine_km\n" in prompt
    plain = json.loads(run([*args, "--show-prompt"], env).stdout)["prompt"]
    assert plain.startswith("<|fim_prefix|><|fim_suffix|>")
    assert "<|fim_middle|>from geo import" in plain


def test_complete_from_stdin_plain_text(clean_env):
    line, ch = end_of(ADD_PREFIX)
    proc = run(
        ["complete", "-", "--line", str(line), "--character", str(ch), "--language", "python"],
        clean_env,
        input=ADD_PREFIX + ADD_SUFFIX,
    )
    assert proc.returncode == 0, proc.stderr
    assert "a + b" in proc.stdout


def test_complete_bad_position_is_a_clear_error(tmp_path, clean_env):
    src = tmp_path / "x.py"
    src.write_text("x = 1\n")
    proc = run(["complete", str(src), "--line", "9", "--character", "0"], clean_env)
    assert proc.returncode == 1
    assert "line 9 is beyond the end of the document" in proc.stderr


def test_complete_missing_model(tmp_path, clean_env):
    src = tmp_path / "x.py"
    src.write_text(ADD_PREFIX)
    env = {**clean_env, "SAFECODER_MODEL_PATH": str(tmp_path / "missing.gguf")}
    line, ch = end_of(ADD_PREFIX)
    proc = run(["complete", str(src), "--line", str(line), "--character", str(ch)], env)
    assert proc.returncode == 1
    assert "missing.gguf" in proc.stderr and "fix:" in proc.stderr


def test_doctor_reports_a_working_setup(clean_env):
    proc = run(["doctor"], clean_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "FIM template: qwen2.5-coder" in proc.stdout
    assert "[  ok] generation" in proc.stdout
    assert "completion.max_tokens = 64" in proc.stdout


def test_doctor_fails_on_a_bad_model_path(tmp_path, clean_env):
    env = {**clean_env, "SAFECODER_MODEL_PATH": str(tmp_path / "missing.gguf")}
    proc = run(["doctor"], env)
    assert proc.returncode == 1
    assert "[FAIL] model" in proc.stdout


def _lsp_message(payload: dict) -> bytes:
    body = json.dumps(payload).encode()
    return f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def _read_message(sock: socket.socket) -> dict:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    header, _, rest = data.partition(b"\r\n\r\n")
    length = int(header.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    while len(rest) < length:
        rest += sock.recv(4096)
    return json.loads(rest[:length])


def test_serve_tcp(clean_env):
    port = free_port()
    proc = subprocess.Popen(
        [*CLI, "serve", "--tcp", f"127.0.0.1:{port}"],
        env=clean_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        sock = None
        for _ in range(100):
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=30)
                break
            except OSError:
                time.sleep(0.1)
        assert sock is not None, "server did not listen"
        with sock:
            sock.sendall(
                _lsp_message(
                    {
                        "jsonrpc": "2.0",
                        "id": 1,
                        "method": "initialize",
                        "params": {"processId": None, "rootUri": None, "capabilities": {}},
                    }
                )
            )
            reply = _read_message(sock)
            while "id" not in reply:  # skip notifications
                reply = _read_message(sock)
            assert reply["id"] == 1
            caps = reply["result"]["capabilities"]
            assert "inlineCompletionProvider" in caps
            assert reply["result"]["serverInfo"]["name"] == "safecoder-lsp"
    finally:
        proc.terminate()
        proc.wait(10)


def import_order(env: dict[str, str]) -> list[str]:
    """Modules in the order their import finished when the server starts (stdin is
    empty: it starts, reads the end and stops)."""
    command = [sys.executable, "-X", "importtime", "-m", "safecoder_lsp", "--stdio"]
    proc = subprocess.run(command, env=env, input="", capture_output=True, text=True, timeout=60)
    return [
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    ]


def test_a_server_that_runs_the_model_loads_llama_cpp_before_numpy(clean_env):
    # safecoder_lsp.native: a CUDA build made with a newer g++ crashed loading the model
    # when numpy's libraries were loaded first (seen on a GPU machine).
    order = import_order(clean_env)
    assert "llama_cpp.llama_cpp" in order and "numpy" in order
    assert order.index("llama_cpp.llama_cpp") < order.index("numpy")
    # A client of an endpoint has no model to load: llama.cpp is not loaded at start.
    remote = {**clean_env, "SAFECODER_ENGINE_KIND": "openai"}
    remote["SAFECODER_ENGINE_URL"] = "http://127.0.0.1:9"
    order = import_order(remote)
    assert "numpy" in order and "llama_cpp.llama_cpp" not in order
