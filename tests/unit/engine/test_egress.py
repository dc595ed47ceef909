"""The egress guard on real sockets: internal addresses pass, anything else is refused
before a connection is attempted (checked with an audit hook on socket.connect)."""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading

import pytest

from engine.remote.egress import SETTING, Allowed, EgressRefused, check, connect, is_internal

CONNECTS: list[tuple] = []


def _audit(event: str, args: tuple) -> None:
    if event == "socket.connect":
        CONNECTS.append(args[1])


sys.addaudithook(_audit)  # hooks cannot be removed; this one only records


@pytest.mark.parametrize(
    ("address", "internal"),
    [
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("172.31.255.255", True),
        ("172.32.0.1", False),
        ("192.168.10.20", True),
        ("169.254.1.1", True),
        ("fd12:3456::1", True),
        ("fe80::1", True),
        ("::ffff:10.0.0.1", True),  # IPv4-mapped: judged as the IPv4 address
        ("::ffff:8.8.8.8", False),
        ("8.8.8.8", False),
        ("100.64.0.1", False),  # carrier-grade NAT is not the company's network
        ("2001:4860:4860::8888", False),
        ("0.0.0.0", False),
    ],
)
def test_internal_addresses(address: str, internal: bool):
    assert is_internal(ipaddress.ip_address(address)) is internal


def test_a_public_address_is_refused_naming_the_host_and_the_setting():
    with pytest.raises(EgressRefused) as info:
        check("models.example.com", [ipaddress.ip_address("203.0.113.7")], Allowed())
    assert "models.example.com (203.0.113.7)" in info.value.message
    assert SETTING in info.value.hint and "models.example.com" in info.value.hint
    assert "SAFECODER_POLICY" in info.value.hint


def test_one_public_address_among_private_ones_is_refused():
    addresses = [ipaddress.ip_address(a) for a in ("10.0.0.5", "198.51.100.1")]
    with pytest.raises(EgressRefused, match=r"198\.51\.100\.1"):
        check("llm.corp", addresses, Allowed())


def test_an_administrator_can_allow_hosts_and_networks():
    allowed = Allowed.parse(["LLM.Corp.Example.", "203.0.113.0/24", " ", "2001:db8::5"])
    public = [ipaddress.ip_address("198.51.100.1")]
    check("llm.corp.example", public, allowed)  # by name
    check("x", [ipaddress.ip_address("203.0.113.200")], allowed)  # by network
    check("y", [ipaddress.ip_address("2001:db8::5")], allowed)
    with pytest.raises(EgressRefused):
        check("other.corp.example", public, allowed)
    with pytest.raises(ValueError, match="neither a host name"):
        Allowed.parse(["http://llm.corp/v1"])


def serve_once() -> tuple[socket.socket, threading.Thread]:
    server = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(b"hello " + conn.recv(16))

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return server, thread


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_connect_reaches_a_real_local_server(host: str):
    server, thread = serve_once()
    port = server.getsockname()[1]
    with server, connect(host, port, 5, Allowed()) as sock:
        sock.sendall(b"guard")
        assert sock.recv(32) == b"hello guard"
        assert sock.getpeername()[0] in ("127.0.0.1", "::1")
    thread.join(5)


def test_connect_to_a_public_address_never_opens_a_connection():
    CONNECTS.clear()
    for target in ("8.8.8.8", "2001:4860:4860::8888", "::ffff:1.1.1.1"):
        with pytest.raises(EgressRefused):
            connect(target, 443, 5, Allowed())
    assert CONNECTS == []  # refused before any socket.connect
