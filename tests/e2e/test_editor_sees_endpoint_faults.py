"""A faulty endpoint, seen from the editor: an HTTP server on 127.0.0.1 that answers
500, malformed JSON, a stream cut in the middle, or nothing in time. Each time the
editor gets a message that says what happened, the language server stays up, and
suggestions come back once the endpoint behaves. The same server records what
llama.cpp's /infill receives (the typed line, other open files of the language)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from lsp_session import (
    ADD_PREFIX,
    ADD_SUFFIX,
    caps,
    end_of,
    inline,
    insert_text,
    open_doc,
    session,
    stats,
)
from lsp_session import wait_for_message as wait_message

MODEL = "qwen2.5-coder-0.5b"  # the served name picks the FIM template


class Faulty(BaseHTTPRequestHandler):
    mode = "ok"  # ok | 500 | malformed | cut | slow
    bodies: ClassVar[list[tuple[str, dict]]] = []  # (path, JSON body) of every POST

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self._json(200, {"data": [{"id": MODEL}]})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length))
        Faulty.bodies.append((self.path, body))
        mode = Faulty.mode
        if self.path == "/infill":  # llama.cpp's format: content pieces, then stop
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece, stop in (("a + b", False), ("", True)):
                event = {"content": piece, "stop": stop, "stop_type": "eos"}
                self._chunk(f"data: {json.dumps(event)}\n\n")
            self.wfile.write(b"0\r\n\r\n")
        elif mode == "500":
            self._json(500, {"error": {"message": "CUDA out of memory"}})
        elif mode == "malformed":
            self._raw(200, "application/json", b"<html>proxy error</html>")
        elif mode == "slow":
            time.sleep(1.5)
            self._json(200, {"choices": [{"text": "late", "finish_reason": "stop"}]})
        elif not body.get("stream"):
            self._json(200, {"choices": [{"text": "a + b", "finish_reason": "stop"}]})
        else:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in ("a", " +", " b"):
                self._chunk(f"data: {json.dumps({'choices': [{'text': piece}]})}\n\n")
            if mode == "cut":
                self.wfile.flush()
                self.connection.close()  # no final event, no last chunk
                return
            done = {"choices": [{"text": "", "finish_reason": "stop"}]}
            self._chunk(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def _json(self, status: int, body: dict) -> None:
        self._raw(status, "application/json", json.dumps(body).encode())

    def _raw(self, status: int, kind: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def faulty() -> Iterator[str]:
    Faulty.mode = "ok"
    Faulty.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Faulty)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def env_for(clean_env: dict[str, str], url: str) -> dict[str, str]:
    return {
        **clean_env,
        "SAFECODER_ENGINE_KIND": "openai",
        "SAFECODER_ENGINE_URL": url,
        "SAFECODER_ENGINE_RETRIES": "0",
        "SAFECODER_ENGINE_BREAKER_FAILURES": "3",
        "SAFECODER_ENGINE_BREAKER_COOLDOWN_S": "0.5",
        "SAFECODER_COMPLETION_TIME_BUDGET_MS": "500",
    }


async def complete(client, n: int) -> list:
    """A completion on a fresh document (no cache or typed-ahead can answer)."""
    uri = f"file:///w/f{n}.py"
    prefix = ADD_PREFIX.replace("add(", f"add{n}(")
    open_doc(client, uri, prefix + ADD_SUFFIX)
    line, ch = end_of(prefix)
    return await inline(client, uri, line, ch)


@pytest.mark.parametrize(
    ("mode", "needle"),
    [
        ("500", "answered HTTP 500: CUDA out of memory"),
        ("malformed", "malformed JSON"),
        ("cut", "broke off"),
    ],
)
async def test_a_fault_is_told_and_suggestions_resume(clean_env, faulty, mode, needle):
    env = env_for(clean_env, faulty)
    if mode == "malformed":
        env["SAFECODER_ENGINE_STREAMING"] = "false"  # a JSON answer, not a stream
    async with session(env, caps("vscode")) as client:
        assert (await complete(client, 0))[0].insert_text == "a + b"
        Faulty.mode = mode
        assert await complete(client, 1) == []
        await wait_message(client, needle)
        Faulty.mode = "ok"
        items = await complete(client, 2)
        assert items and items[0].insert_text == "a + b"
        assert (await stats(client))["engine"] == 2


async def test_a_silent_endpoint_opens_the_breaker_and_the_user_is_told(clean_env, faulty):
    async with session(env_for(clean_env, faulty), caps("vscode")) as client:
        Faulty.mode = "slow"
        for n in range(3):  # each ends at the time budget with nothing
            assert await complete(client, n) == []
        started = time.monotonic()
        assert await complete(client, 3) == []  # refused at once, not after 500 ms
        assert time.monotonic() - started < 0.4
        message = await wait_message(client, "times in a row")
        assert "sent nothing within the time budget" in message
        Faulty.mode = "ok"
        await asyncio.sleep(0.6)  # the cool-down
        items = await complete(client, 4)
        assert items and items[0].insert_text == "a + b"


UTIL = "from main import add0\n\n\ndef sub(a, b):\n    return add0(a, -b)\n"


async def test_infill_requests_carry_the_typed_line_and_other_open_files(clean_env, faulty):
    env = {**env_for(clean_env, faulty), "SAFECODER_ENGINE_KIND": "llamacpp-infill"}
    async with session(env, caps("neovim")) as client:
        open_doc(client, "file:///w/util.py", UTIL)
        open_doc(client, "file:///w/notes.md", "# not python\n", language="markdown")
        items = await complete(client, 0)
        assert items and items[0].insert_text == "a + b"
    path, body = Faulty.bodies[-1]
    assert path == "/infill"
    # the lead line before the cursor's goes after the middle marker with the typed line
    assert body["input_prefix"] == ""
    assert body["prompt"] == "def add0(a, b):\n    return"  # without the trailing blank
    assert body["input_suffix"].startswith("\n")
    # Repository context: the other open file that shares names with this one.
    assert body["input_extra"] == [{"filename": "util.py", "text": UTIL}]


async def test_the_prompt_carries_the_code_around_the_last_edit_of_another_file(clean_env, faulty):
    # Repository context through the server: an edit deep in another open file puts
    # the lines around it (not the file's start) into the prompt, in Qwen's format.
    other = "".join(f"checksum_{i} = crc_update(buffer_{i}, polynomial)\n" for i in range(200))
    async with session(env_for(clean_env, faulty), caps("vscode")) as client:
        open_doc(client, "file:///w/crc.py", other)
        insert_text(client, "file:///w/crc.py", 2, 150, 0, "# edited here\n")
        prefix = "def check(buffer_7):\n    return crc_update(buffer_7, "
        open_doc(client, "file:///w/main.py", prefix + "\n")
        line, ch = end_of(prefix)
        assert await inline(client, "file:///w/main.py", line, ch, invoked=True)
    prompt = Faulty.bodies[-1][1]["prompt"]
    assert prompt.startswith("<|repo_name|>workspace\n<|file_sep|>crc.py\n")
    block = prompt[: prompt.index("<|fim_prefix|>")]
    assert "# edited here\n" in block and "checksum_150 = " in block
    assert "checksum_0 = " not in block  # the start of the file is not what was edited
    assert block.endswith("<|file_sep|>main.py\n")
