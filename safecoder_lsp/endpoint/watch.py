"""Noticing clients that went away while their completion waits or is generated.

A client that closed its connection makes the socket readable with nothing to read
(``recv(MSG_PEEK)`` gives ``b""``, or fails with a reset); over TLS the raw bytes
start with an alert record (close_notify) instead. One thread polls every watched
connection a few times a second and sets the request's ``CancelToken`` when it sees
one closed, so the engine never spends time on an answer nobody reads.

Bytes that are not a close (a pipelined next request) end the watch of that
connection: the connection cannot be judged without reading them.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from engine.base import CancelToken

TLS_ALERT = 0x15  # record content type of a TLS alert (close_notify among them)
TLS_APPLICATION_DATA = 0x17
# an encrypted TLS 1.3 alert: 2 bytes, its content type, a 16-byte tag (some padding
# allowed); the shortest HTTP/1.1 request with a Host header is longer
TLS13_ALERT_MAX = 32


def peer_closed(sock: socket.socket) -> bool | None:
    """True: the peer closed; False: nothing to read; None: data waiting."""
    try:
        # the raw socket even for TLS: peek below the encryption layer
        data = socket.socket.recv(sock, 64, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True
    if not data:
        return True
    if isinstance(sock, ssl.SSLSocket) and _tls_close(data):
        return True
    return None


def _tls_close(data: bytes) -> bool:
    """Whether the waiting raw bytes are a TLS close_notify: an alert record (TLS 1.2),
    or (TLS 1.3, where alerts are encrypted) one lone record too small to hold an
    HTTP request."""
    if len(data) < 5:
        return False
    kind, length = data[0], int.from_bytes(data[3:5], "big")
    if kind == TLS_ALERT:
        return True
    return kind == TLS_APPLICATION_DATA and length <= TLS13_ALERT_MAX and len(data) == 5 + length


@dataclass(eq=False)
class Watch:
    sock: socket.socket
    cancel: CancelToken
    gone: bool = False  # set when the watcher saw the client close


class DisconnectWatcher:
    def __init__(self, interval_s: float = 0.1) -> None:
        self.interval_s = interval_s
        self._watches: dict[int, Watch] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="endpoint-watch", daemon=True)
        self._thread.start()

    @contextlib.contextmanager
    def watching(self, sock: socket.socket, cancel: CancelToken) -> Iterator[Watch]:
        watch = Watch(sock, cancel)
        try:
            fd = sock.fileno()
        except OSError:
            fd = -1
        if fd < 0:
            yield watch
            return
        with self._lock:
            self._watches[fd] = watch
        self._wake.set()
        try:
            yield watch
        finally:
            with self._lock:
                if self._watches.get(fd) is watch:
                    del self._watches[fd]

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._thread.join(2)

    def _run(self) -> None:
        while not self._closed:
            with self._lock:
                watches = dict(self._watches)
            if not watches:
                self._wake.wait()
                self._wake.clear()
                continue
            poller = select.poll()
            for fd in watches:
                poller.register(fd, select.POLLIN | select.POLLPRI)
            try:
                events = poller.poll(self.interval_s * 1000)
            except OSError:  # pragma: no cover - a descriptor closed meanwhile
                events = []
            for fd, _ in events:
                watch = watches[fd]
                state = peer_closed(watch.sock)
                if state is False:
                    continue
                with self._lock:
                    if self._watches.get(fd) is watch:
                        del self._watches[fd]
                if state:
                    watch.gone = True
                    watch.cancel.cancel()
            if events:
                # a poll that returns at once would otherwise spin
                self._wake.wait(self.interval_s)
                self._wake.clear()
