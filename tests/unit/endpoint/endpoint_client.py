"""Helpers for the endpoint tests: start a real server in-process, talk real HTTP."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safecoder_lsp.endpoint import tokens
from safecoder_lsp.endpoint.backend import Backend
from safecoder_lsp.endpoint.judge import Judge
from safecoder_lsp.endpoint.ratelimit import RateLimiter
from safecoder_lsp.endpoint.server import Endpoint, EndpointServer, Limits

FIM_PROMPT = "<|fim_prefix|>def add(a, b):\n    return <|fim_suffix|>\n<|fim_middle|>"


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def events(self) -> list[Any]:
        """The data of each server-sent event ("[DONE]" stays a string)."""
        out: list[Any] = []
        for block in self.body.decode().split("\n\n"):
            if block.startswith("data: "):
                data = block[len("data: ") :]
                out.append(data if data == "[DONE]" else json.loads(data))
        return out


@dataclass
class Running:
    server: EndpointServer
    endpoint: Endpoint
    tokens_path: Path | None
    secrets: dict[str, str] = field(default_factory=dict)
    ssl_context: ssl.SSLContext | None = None

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def connection(self, timeout: float = 60) -> http.client.HTTPConnection:
        if self.ssl_context is not None:
            return http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=timeout, context=self.ssl_context
            )
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = "alice",
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """``token``: a name in ``secrets``, a literal token, or None for none."""
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {self.secrets.get(token, token)}"
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        conn = self.connection()
        try:
            conn.request(method, path, body=data, headers=sent)
            answer = conn.getresponse()
            return Response(answer.status, dict(answer.getheaders()), answer.read())
        finally:
            conn.close()

    def complete(self, token: str | None = "alice", **fields: Any) -> Response:
        return self.request("POST", "/v1/completions", fields, token=token)

    def metrics(self) -> str:
        return self.request("GET", "/metrics").body.decode()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.endpoint.close()


def start(
    backend: Backend,
    folder: Path,
    *,
    users: tuple[str, ...] = ("alice",),
    auth: bool = True,
    limiter: RateLimiter | None = None,
    limits: Limits | None = None,
    judge: Judge | None = None,
    tls: ssl.SSLContext | None = None,
    client_context: ssl.SSLContext | None = None,
) -> Running:
    """A server on 127.0.0.1 (a free port) in a thread, with a token per user."""
    path = None
    secrets: dict[str, str] = {}
    if auth:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "endpoint-tokens.json"
        for user in users:
            secrets[user] = tokens.add(path, user)
    endpoint = Endpoint(
        backend,
        tokens.TokenStore(path) if path else None,
        limiter or RateLimiter(0),
        limits or Limits(),
        judge=judge,
    )
    server = EndpointServer(("127.0.0.1", 0), endpoint, tls)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    return Running(server, endpoint, path, secrets, client_context)


def free_text(text: str) -> str:
    return "".join(text.split())
