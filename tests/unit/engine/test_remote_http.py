"""The remote engines' HTTP client against a real HTTP server on 127.0.0.1: JSON,
server-sent-event streams, and every fault an endpoint can produce for real (down,
401, 500, malformed JSON, a stream cut off, too slow, a client that cancels)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from engine.base import EngineError
from engine.remote.http import Client, Endpoint

SEEN: dict[str, object] = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _body(self) -> dict:
        size = int(self.headers.get("Content-Length", 0))
        return json.loads(self.rfile.read(size) or b"{}")

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _events(self, events: list[str], delay: float = 0.0) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for event in events:
            self.wfile.write(event.encode())
            self.wfile.flush()
            time.sleep(delay)

    def do_POST(self) -> None:
        body = self._body()
        SEEN["auth"] = self.headers.get("Authorization")
        SEEN["path"] = self.path
        if self.path.endswith("/json"):
            self._send(200, json.dumps({"echo": body}).encode())
        elif self.path.endswith("/stream"):
            self._events(
                [": comment\n\n", 'data: {"n": 1}\n\n', 'data: {"n": 2}\n\n', "data: [DONE]\n\n"]
            )
        elif self.path.endswith("/auth"):
            self._send(401, b'{"error": {"message": "bad token"}}')
        elif self.path.endswith("/boom"):
            self._send(500, b"internal trouble")
        elif self.path.endswith("/malformed"):
            self._send(200, b"<html>not json</html>", "text/html")
        elif self.path.endswith("/bad-event"):
            self._events(['data: {"n": 1}\n\n', "data: {oops\n\n"])
        elif self.path.endswith("/cut"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"partial": ')
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        elif self.path.endswith("/slow"):
            time.sleep(1.5)
            self._send(200, b"{}")
        elif self.path.endswith("/long"):
            try:
                self._events([f'data: {{"n": {i}}}\n\n' for i in range(200)], delay=0.02)
                SEEN["long_finished"] = True
            except (BrokenPipeError, ConnectionResetError):
                SEEN["long_finished"] = False


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def client(url: str, **kw) -> Client:
    return Client(Endpoint(url, **kw))


def test_json_with_the_token_and_the_base_path(server):
    assert client(server, token="s3cret").post_json("/json", {"a": 1}) == {"echo": {"a": 1}}
    assert SEEN["auth"] == "Bearer s3cret" and SEEN["path"] == "/v1/json"
    client(server).post_json("/json", {})
    assert SEEN["auth"] is None  # no token configured: no header


def test_a_stream_yields_its_events_until_done(server):
    assert list(client(server).post_stream("/stream", {})) == [{"n": 1}, {"n": 2}]


@pytest.mark.parametrize(
    ("path", "message", "hint"),
    [
        ("/auth", "refused the token (HTTP 401: bad token)", "engine.api_token_file"),
        ("/boom", "answered HTTP 500: internal trouble", "endpoint's log"),
        ("/malformed", "malformed JSON", "engine.kind"),
        ("/cut", "broke off", "tries again"),
    ],
)
def test_faults_are_clear_errors(server, path, message, hint):
    with pytest.raises(EngineError) as info:
        client(server).post_json(path, {})
    assert message in info.value.message and hint in info.value.hint


def test_a_malformed_stream_event_is_a_clear_error(server):
    events = client(server).post_stream("/bad-event", {})
    assert next(events) == {"n": 1}
    with pytest.raises(EngineError, match="malformed stream event"):
        next(events)


def test_a_slow_endpoint_times_out(server):
    started = time.monotonic()
    with pytest.raises(EngineError, match="did not answer in time"):
        client(server, read_timeout=0.3).post_json("/slow", {})
    assert time.monotonic() - started < 1.4


def test_an_endpoint_that_is_down(server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens on it once closed
    with pytest.raises(EngineError, match="not running") as info:
        client(f"http://127.0.0.1:{port}").post_json("/json", {})
    assert "engine.url" in info.value.hint


def test_cancelling_a_stream_closes_the_connection(server):
    SEEN.pop("long_finished", None)
    cancel = threading.Event()
    got = []
    for event in client(server).post_stream("/long", {}, cancel):
        got.append(event["n"])
        if len(got) == 3:
            cancel.set()
    assert got == [0, 1, 2]
    for _ in range(100):  # the server notices the closed connection
        if "long_finished" in SEEN:
            break
        time.sleep(0.05)
    assert SEEN["long_finished"] is False


def test_a_public_url_is_refused_and_a_bad_url_explained():
    with pytest.raises(EngineError, match="refused to send code"):
        client("http://8.8.8.8:8080").post_json("/json", {})
    with pytest.raises(EngineError, match="not an http"):
        Endpoint("ftp://10.0.0.1/")
