"""HTTP for remote engines: JSON requests and server-sent-event streams over
connections the egress guard allowed, with timeouts, TLS and a bearer token.

Errors are EngineErrors with a message a user can act on: endpoint down, token
refused (401/403), rate limited (429), server error (5xx), no answer in time, a
malformed answer, a stream cut off. Cancelling a stream closes the connection, so the
endpoint stops generating for a request nobody waits for.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from engine.base import EngineError
from engine.remote import egress


@dataclass(frozen=True)
class Endpoint:
    url: str  # scheme://host[:port][/base path]
    token: str = ""  # sent as "Authorization: Bearer ..."; never logged
    connect_timeout: float = 3.0
    read_timeout: float = 30.0
    verify_tls: bool = True
    ca_bundle: str = ""  # PEM file of the CA(s) to trust instead of the system's
    client_cert: str = ""  # PEM certificate (and key, or client_key) for mTLS
    client_key: str = ""
    allowed: egress.Allowed = field(default_factory=egress.Allowed)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EngineError(
                f"engine.url {self.url!r} is not an http:// or https:// URL.",
                "Set engine.url to the endpoint, e.g. http://10.0.0.5:8080.",
            )


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, endpoint: Endpoint, host: str, port: int) -> None:
        super().__init__(host, port, timeout=endpoint.read_timeout)
        self._endpoint = endpoint

    def connect(self) -> None:
        self.sock = egress.connect(
            self.host, self.port, self._endpoint.connect_timeout, self._endpoint.allowed
        )
        self.sock.settimeout(self._endpoint.read_timeout)


class _GuardedHTTPSConnection(_GuardedHTTPConnection):
    def __init__(self, endpoint: Endpoint, host: str, port: int) -> None:
        super().__init__(endpoint, host, port)
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
            "Check the CA bundle and client certificate paths in the engine settings.",
        ) from exc
    return context


class Client:
    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        parts = urlsplit(endpoint.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port or (443 if self._https else 80)
        self._base = parts.path.rstrip("/")

    def _connection(self) -> _GuardedHTTPConnection:
        kind = _GuardedHTTPSConnection if self._https else _GuardedHTTPConnection
        return kind(self.endpoint, self._host, self._port)

    def _send(self, path: str, body: dict[str, Any], stream: bool):
        conn = self._connection()
        headers = {"Content-Type": "application/json"}
        headers["Accept"] = "text/event-stream" if stream else "application/json"
        if self.endpoint.token:
            headers["Authorization"] = f"Bearer {self.endpoint.token}"
        try:
            conn.request("POST", self._base + path, json.dumps(body).encode(), headers)
            response = conn.getresponse()
        except BaseException as exc:
            conn.close()
            raise self._failure(exc) from exc
        if response.status >= 400:
            detail = _detail(response)
            conn.close()
            raise self._status_error(response.status, detail)
        return conn, response

    def post_json(self, path: str, body: dict[str, Any]) -> Any:
        conn, response = self._send(path, body, stream=False)
        try:
            data = response.read()
        except BaseException as exc:
            raise self._failure(exc) from exc
        finally:
            conn.close()
        try:
            return json.loads(data)
        except ValueError as exc:
            raise EngineError(
                f"the endpoint {self.endpoint.url} answered with malformed JSON ({data[:80]!r}).",
                "Check that engine.kind matches the server behind engine.url.",
            ) from exc

    def post_stream(
        self, path: str, body: dict[str, Any], cancel: threading.Event | None = None
    ) -> Iterator[Any]:
        """The JSON events of a server-sent-event stream, until ``[DONE]`` or its end."""
        conn, response = self._send(path, body, stream=True)
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    return  # closing the connection tells the server to stop
                try:
                    line = response.readline()
                except BaseException as exc:
                    raise self._failure(exc) from exc
                if not line:
                    return
                text = line.decode("utf-8", "replace").strip()
                if not text.startswith("data:"):
                    continue  # blank separators, comments, event:/id: fields
                payload = text[5:].strip()
                if payload == "[DONE]":
                    return
                try:
                    yield json.loads(payload)
                except ValueError as exc:
                    raise EngineError(
                        f"the endpoint {self.endpoint.url} sent a malformed stream event "
                        f"({payload[:80]!r}).",
                        "Check that engine.kind matches the server behind engine.url.",
                    ) from exc
        finally:
            conn.close()

    def _failure(self, exc: BaseException) -> BaseException:
        url = self.endpoint.url
        if isinstance(exc, EngineError | KeyboardInterrupt | SystemExit | GeneratorExit):
            return exc
        if isinstance(exc, socket.timeout | TimeoutError):
            return EngineError(
                f"the endpoint {url} did not answer in time ({exc}).",
                "It may be overloaded; engine read/connect timeouts can be raised.",
            )
        if isinstance(exc, ConnectionRefusedError):
            return EngineError(
                f"the endpoint {url} is not running (connection refused).",
                "Start it, or check engine.url.",
            )
        if isinstance(exc, ssl.SSLError):
            return EngineError(
                f"TLS with {url} failed: {exc}.",
                "Check the endpoint's certificate and the CA bundle setting.",
            )
        if isinstance(exc, http.client.HTTPException | ConnectionError):
            return EngineError(
                f"the connection to {url} broke off ({type(exc).__name__}: {exc}).",
                "The endpoint may have restarted; the next request tries again.",
            )
        if isinstance(exc, OSError):
            return EngineError(f"cannot reach the endpoint {url}: {exc}.", "Check engine.url.")
        return exc

    def _status_error(self, status: int, detail: str) -> EngineError:
        url = self.endpoint.url
        if status in (401, 403):
            return EngineError(
                f"the endpoint {url} refused the token (HTTP {status}: {detail}).",
                "Put a valid token in the file engine.api_token_file names.",
            )
        if status == 429:
            return EngineError(
                f"the endpoint {url} is rate limiting this user (HTTP 429: {detail}).",
                "Wait a moment; suggestions resume by themselves.",
            )
        return EngineError(
            f"the endpoint {url} answered HTTP {status}: {detail}.",
            "See the endpoint's log." if status >= 500 else "Check engine.kind and engine.url.",
        )


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
