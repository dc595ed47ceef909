"""Small real HTTP servers on 127.0.0.1 for tests: a handler class served from a
daemon thread, torn down by the fixture that started it."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar


def free_port() -> int:
    """A port nothing listens on once this returns (connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalServer:
    """``handler`` served on 127.0.0.1 (``port`` 0: any free one). Each ``state``
    entry becomes an attribute of the server, read by handlers as
    ``self.server.<name>``."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0, **state: Any) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        for name, value in state.items():
            setattr(self.httpd, name, value)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


S = TypeVar("S", bound=LocalServer)


@contextlib.contextmanager
def started_servers(make: Callable[..., S]) -> Iterator[Callable[..., S]]:
    """A ``start(...)`` that makes servers with ``make``; all are stopped at the end
    (the body of a pytest fixture: ``with started_servers(Server) as start: yield start``)."""
    started: list[S] = []

    def start(*args: Any, **kwargs: Any) -> S:
        started.append(make(*args, **kwargs))
        return started[-1]

    try:
        yield start
    finally:
        for server in started:
            server.stop()
