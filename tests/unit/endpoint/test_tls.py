"""HTTPS and mutual TLS on the real endpoint, with a CA made here by ``cryptography``:
trusted through the CA, refused without it, a client certificate required with
--tls-client-ca; and clear start errors for missing, mismatched or broken files."""

from __future__ import annotations

import json
import socket
import ssl
import time

import pytest
from endpoint_client import FIM_PROMPT, free_text, start
from support.pki import Pki

from safecoder_lsp.endpoint.tls import TlsError, server_context

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def https(backend, pki, tmp_path_factory):
    tls = server_context(pki.path("server.crt"), pki.path("server.key"))
    running = start(
        backend,
        tmp_path_factory.mktemp("https"),
        tls=tls,
        client_context=pki.client_context(with_cert=False),
    )
    yield running
    running.stop()


@pytest.fixture(scope="module")
def mtls(backend, pki, tmp_path_factory):
    tls = server_context(pki.path("server.crt"), pki.path("server.key"), str(pki.ca))
    running = start(
        backend,
        tmp_path_factory.mktemp("mtls"),
        tls=tls,
        client_context=pki.client_context(with_cert=True),
    )
    yield running
    running.stop()


def test_https_with_the_ca_serves_completions(https):
    assert https.server.url.startswith("https://127.0.0.1:")
    assert https.request("GET", "/health", token=None).status == 200
    answer = https.complete(prompt=FIM_PROMPT, max_tokens=4)
    assert answer.status == 200
    assert free_text(answer.json()["choices"][0]["text"]).startswith("a+b")
    events = https.request(
        "POST", "/v1/completions", {"prompt": FIM_PROMPT, "max_tokens": 3, "stream": True}
    ).events()
    assert events[-1] == "[DONE]"


def test_https_without_trusting_the_ca_is_refused_by_the_client(https, pki):
    https.ssl_context = pki.client_context(with_cert=False, trust=False)
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            https.request("GET", "/health", token=None)
    finally:
        https.ssl_context = pki.client_context(with_cert=False)
    assert https.request("GET", "/health", token=None).status == 200  # still serving


def test_mutual_tls_needs_a_client_certificate(mtls, pki):
    assert mtls.request("GET", "/v1/models").status == 200
    failures = _metric(mtls.metrics(), "safecoder_endpoint_tls_handshake_failures_total")
    mtls.ssl_context = pki.client_context(with_cert=False)
    try:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            mtls.request("GET", "/health", token=None)
    finally:
        mtls.ssl_context = pki.client_context(with_cert=True)
    deadline = time.monotonic() + 10
    while _metric(mtls.metrics(), "safecoder_endpoint_tls_handshake_failures_total") == failures:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert mtls.complete(prompt=FIM_PROMPT, max_tokens=2).status == 200


def test_a_tls_client_that_hangs_up_is_cancelled(https, backend, pki):
    before = backend.stats()
    raw = socket.create_connection(("127.0.0.1", https.port), timeout=30)
    sock = pki.client_context(with_cert=False).wrap_socket(raw, server_hostname="127.0.0.1")
    body = json.dumps({"prompt": "numbers = [1, 2, 3, 4, 5, 6, 7,", "max_tokens": 256}).encode()
    sock.sendall(
        b"POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {https.secrets['alice']}\r\n".encode()
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    deadline = time.monotonic() + 30
    while backend.stats()["active"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    sock.close()
    deadline = time.monotonic() + 5
    while backend.stats()["active"]:
        assert time.monotonic() < deadline, "the generation went on after the client left"
        time.sleep(0.01)
    assert backend.stats()["cancelled"] == before["cancelled"] + 1


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def test_start_errors_name_the_file_and_the_fix(pki, tmp_path):
    with pytest.raises(TlsError, match=r"--tls-cert .* does not exist"):
        server_context(str(tmp_path / "missing.crt"), pki.path("server.key"))
    with pytest.raises(TlsError, match="does not belong to the certificate") as info:
        server_context(pki.path("server.crt"), pki.path("client.key"))
    assert "--tls-key" in info.value.hint
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(TlsError, match="cannot load the certificate"):
        server_context(str(garbage), pki.path("server.key"))
    with pytest.raises(TlsError, match=r"--tls-client-ca .* does not exist"):
        server_context(pki.path("server.crt"), pki.path("server.key"), str(tmp_path / "no-ca"))
    with pytest.raises(TlsError, match="cannot load the client CA"):
        server_context(pki.path("server.crt"), pki.path("server.key"), str(garbage))
