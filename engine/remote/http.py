"""HTTP for remote engines: JSON requests and server-sent-event streams over
connections the egress guard allowed, with timeouts, TLS and a bearer token.

Errors are EngineErrors with a message a user can act on: endpoint down, token
refused (401/403), rate limited (429), server error (5xx), no answer in time, a
malformed answer, a stream cut off. Cancelling a stream closes the connection, so the
endpoint stops generating for a request nobody waits for.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from engine.base import CancelToken, EngineError
from engine.remote import egress


class RemoteError(EngineError):
    """An endpoint failure. ``retryable``: trying again may succeed (nothing was
    generated, the endpoint was down, restarting or overloaded); ``endpoint_fault``:
    the endpoint itself is unwell (counts towards the circuit breaker), not the
    request or the token."""

    def __init__(
        self,
        message: str,
        hint: str = "",
        *,
        retryable: bool = False,
        endpoint_fault: bool = False,
        status: int = 0,
    ) -> None:
        super().__init__(message, hint)
        self.retryable = retryable
        self.endpoint_fault = endpoint_fault
        self.status = status

    def __reduce__(self):  # keep the flags across pickling (process pools, logs)
        return (
            _rebuild,
            (self.message, self.hint, self.retryable, self.endpoint_fault, self.status),
        )


def _rebuild(message: str, hint: str, retryable: bool, fault: bool, status: int) -> RemoteError:
    return RemoteError(message, hint, retryable=retryable, endpoint_fault=fault, status=status)


@dataclass(frozen=True)
class Endpoint:
    url: str  # scheme://host[:port][/base path]
    # sent as "Authorization: Bearer ..."; never logged. A callable is asked on every
    # request (a token file that is replaced takes effect without a restart).
    token: str | Callable[[], str] = ""
    connect_timeout: float = 3.0
    read_timeout: float = 30.0
    verify_tls: bool = True
    ca_bundle: str = ""  # PEM file of the CA(s) to trust instead of the system's
    client_cert: str = ""  # PEM certificate (and key, or client_key) for mTLS
    client_key: str = ""
    allowed: egress.Allowed = field(default_factory=egress.Allowed)
    # The settings the user changes to fix this endpoint, named in error hints (a
    # Hugging Face plugin's endpoint names the plugin's settings instead).
    url_setting: str = "engine.url"
    kind_setting: str = "engine.kind"
    token_hint: str = (
        "Put a valid token in the file engine.api_token_file names "
        "(or the SAFECODER_API_TOKEN environment variable)."
    )

    @property
    def mismatch_hint(self) -> str:
        return f"Check that {self.kind_setting} matches the server behind {self.url_setting}."

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EngineError(
                f"engine.url {self.url!r} is not an http:// or https:// URL.",
                "Set engine.url to the endpoint, e.g. http://10.0.0.5:8080.",
            )


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(
        self, endpoint: Endpoint, host: str, port: int, timeout: float | None = None
    ) -> None:
        super().__init__(host, port, timeout=endpoint.read_timeout if timeout is None else timeout)
        self._endpoint = endpoint

    def connect(self) -> None:
        self.sock = egress.connect(
            self.host,
            self.port,
            min(self._endpoint.connect_timeout, self.timeout or self._endpoint.connect_timeout),
            self._endpoint.allowed,
        )
        self.sock.settimeout(self.timeout)


class _GuardedHTTPSConnection(_GuardedHTTPConnection):
    def __init__(
        self, endpoint: Endpoint, host: str, port: int, timeout: float | None = None
    ) -> None:
        super().__init__(endpoint, host, port, timeout)
        self._context = tls_context(endpoint)

    def connect(self) -> None:
        super().connect()
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.host)


def tls_context(endpoint: Endpoint) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=endpoint.ca_bundle or None)
        if not endpoint.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if endpoint.client_cert:
            context.load_cert_chain(endpoint.client_cert, endpoint.client_key or None)
    except (OSError, ssl.SSLError) as exc:
        raise EngineError(
            f"cannot set up TLS for {endpoint.url}: {exc}.",
            "Check engine.ca_bundle, engine.client_cert and engine.client_key.",
        ) from exc
    return context


class Stream:
    """An open streamed response: server-sent events (``data: {...}``) or
    newline-delimited JSON (Ollama). ``close()`` may be called from any thread: it
    shuts the socket down, so a read blocked waiting for the next token returns at
    once and the endpoint sees the client go away."""

    def __init__(
        self, client: Client, conn: http.client.HTTPConnection, response, framing: str
    ) -> None:
        self._client = client
        self._conn = conn
        self._response = response
        self._framing = framing
        self._lock = threading.Lock()
        self.closed = False

    def set_read_timeout(self, seconds: float) -> None:
        sock = self._conn.sock
        if sock is not None and not self.closed:
            sock.settimeout(max(0.001, seconds))

    def close(self) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
        _shut(self._conn)
        self._conn.close()

    def events(self) -> Iterator[Any]:
        """The JSON events until ``[DONE]`` or the end of the response. After
        ``close()`` it ends quietly instead of reporting a broken connection."""
        url = self._client.endpoint.url
        try:
            while True:
                try:
                    line = self._response.readline()
                except BaseException as exc:
                    if self.closed:
                        return
                    raise self._client._failure(exc, started=True) from exc
                if not line:
                    response = self._response
                    if not self.closed and response.chunked and response.chunk_left is not None:
                        # http.client reads a cut chunked body as a quiet end
                        raise RemoteError(
                            f"the connection to {url} broke off in the middle of the answer.",
                            "The endpoint may have restarted; the next request tries again.",
                            endpoint_fault=True,
                        )
                    return
                text = line.decode("utf-8", "replace").strip()
                if self._framing == "sse":
                    if not text.startswith("data:"):
                        continue  # blank separators, comments, event:/id: fields
                    payload = text[5:].strip()
                    if payload == "[DONE]":
                        return
                else:
                    if not text:
                        continue
                    payload = text
                try:
                    yield json.loads(payload)
                except ValueError as exc:
                    raise RemoteError(
                        f"the endpoint {url} sent a malformed stream event ({payload[:80]!r}).",
                        self._client.endpoint.mismatch_hint,
                    ) from exc
        finally:
            self.close()


class Client:
    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        parts = urlsplit(endpoint.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._https else 80)
        self._base = parts.path.rstrip("/")

    def _connection(self, timeout: float | None = None) -> _GuardedHTTPConnection:
        kind = _GuardedHTTPSConnection if self._https else _GuardedHTTPConnection
        return kind(self.endpoint, self._host, self._port, timeout)

    def _token(self) -> str:
        token = self.endpoint.token
        return token() if callable(token) else token

    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        accept: str,
        timeout: float | None = None,
        cancel: CancelToken | None = None,
    ):
        """Send a request and wait for the answer's headers. ``timeout`` bounds each
        wait (default: the endpoint's read timeout); ``cancel`` closes the connection
        while waiting (servers often answer only after evaluating the prompt)."""
        conn = self._connection(timeout)
        release = cancel.on_cancel(lambda: _shut(conn)) if cancel is not None else _nothing
        headers = {"Accept": accept}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        try:
            token = self._token()
            if token:
                headers["Authorization"] = f"Bearer {token}"
            conn.request(method, self._base + path, data, headers)
            response = conn.getresponse()
        except BaseException as exc:
            conn.close()
            raise self._failure(exc, started=False) from exc
        finally:
            release()
        if response.status >= 400:
            detail = _detail(response)
            conn.close()
            raise self._status_error(response.status, detail)
        return conn, response

    def get_json(self, path: str) -> Any:
        conn, response = self._send("GET", path, None, "application/json")
        return self._read_json(conn, response)

    def post_json(
        self,
        path: str,
        body: dict[str, Any],
        timeout: float | None = None,
        cancel: CancelToken | None = None,
    ) -> Any:
        conn, response = self._send("POST", path, body, "application/json", timeout, cancel)
        if cancel is None:
            return self._read_json(conn, response)
        release = cancel.on_cancel(lambda: _shut(conn))
        try:
            return self._read_json(conn, response)
        finally:
            release()

    def _read_json(self, conn: http.client.HTTPConnection, response) -> Any:
        try:
            data = response.read()
        except BaseException as exc:
            raise self._failure(exc, started=True) from exc
        finally:
            conn.close()
        try:
            return json.loads(data)
        except ValueError as exc:
            raise RemoteError(
                f"the endpoint {self.endpoint.url} answered with malformed JSON ({data[:80]!r}).",
                self.endpoint.mismatch_hint,
            ) from exc

    def open_stream(
        self,
        path: str,
        body: dict[str, Any],
        framing: str = "sse",
        timeout: float | None = None,
        cancel: CancelToken | None = None,
    ) -> Stream:
        """Send ``body`` and return the open stream (``framing``: "sse" or "ndjson")."""
        accept = "text/event-stream" if framing == "sse" else "application/x-ndjson"
        conn, response = self._send("POST", path, body, accept, timeout, cancel)
        return Stream(self, conn, response, framing)

    def post_stream(
        self, path: str, body: dict[str, Any], cancel: threading.Event | None = None
    ) -> Iterator[Any]:
        """The JSON events of a server-sent-event stream, until ``[DONE]`` or its end."""
        stream = self.open_stream(path, body)
        try:
            for event in stream.events():
                if cancel is not None and cancel.is_set():
                    return  # closing the connection tells the server to stop
                yield event
        finally:
            stream.close()

    def _failure(self, exc: BaseException, *, started: bool) -> BaseException:
        """``exc`` as a RemoteError; ``started``: the endpoint had begun to answer."""
        url = self.endpoint.url
        if isinstance(exc, EngineError | KeyboardInterrupt | SystemExit | GeneratorExit):
            return exc
        if isinstance(exc, socket.timeout | TimeoutError):
            return RemoteError(
                f"the endpoint {url} did not answer in time ({exc}).",
                "It may be overloaded; engine.read_timeout_ms can be raised.",
                endpoint_fault=True,
            )
        if isinstance(exc, ConnectionRefusedError):
            return RemoteError(
                f"the endpoint {url} is not running (connection refused).",
                f"Start it, or check {self.endpoint.url_setting}; completions resume when it "
                "is back.",
                retryable=True,
                endpoint_fault=True,
            )
        if isinstance(exc, ssl.SSLError):
            return RemoteError(
                f"TLS with {url} failed: {exc}.",
                "Check the endpoint's certificate and engine.ca_bundle "
                "(or engine.client_cert for mutual TLS).",
            )
        if isinstance(exc, http.client.HTTPException | ConnectionError):
            return RemoteError(
                f"the connection to {url} broke off ({type(exc).__name__}: {exc}).",
                "The endpoint may have restarted; the next request tries again.",
                retryable=not started,
                endpoint_fault=True,
            )
        if isinstance(exc, OSError):
            return RemoteError(
                f"cannot reach the endpoint {url}: {exc}.",
                f"Check {self.endpoint.url_setting}.",
                retryable=True,
                endpoint_fault=True,
            )
        return exc

    def _status_error(self, status: int, detail: str) -> RemoteError:
        url = self.endpoint.url
        if status in (401, 403):
            return RemoteError(
                f"the endpoint {url} refused the token (HTTP {status}: {detail}).",
                self.endpoint.token_hint,
                status=status,
            )
        if status == 429:
            return RemoteError(
                f"the endpoint {url} is rate limiting this user (HTTP 429: {detail}).",
                "Wait a moment; suggestions resume by themselves.",
                status=status,
            )
        return RemoteError(
            f"the endpoint {url} answered HTTP {status}: {detail}.",
            "See the endpoint's log."
            if status >= 500
            else f"Check {self.endpoint.kind_setting} and {self.endpoint.url_setting}.",
            retryable=status in (502, 503, 504),
            endpoint_fault=status >= 500,
            status=status,
        )


def _shut(conn: http.client.HTTPConnection) -> None:
    """Unblock a read on ``conn`` from another thread (a cancel)."""
    sock = conn.sock
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _nothing() -> None:
    pass


def _detail(response: http.client.HTTPResponse) -> str:
    try:
        body = response.read(2048)
    except (OSError, http.client.HTTPException):
        return response.reason
    try:
        data = json.loads(body)
        if isinstance(data, dict):
            err = data.get("error", data.get("message", data))
            if isinstance(err, dict):
                err = err.get("message", err)
            return str(err)[:200]
    except ValueError:
        pass
    return body.decode("utf-8", "replace").strip()[:200] or response.reason
