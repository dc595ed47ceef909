"""TLS to a real HTTPS server on 127.0.0.1 with a self-signed CA made here: verified
with the CA bundle, refused without it, and mutual TLS with a client certificate."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from support.pki import Pki

from engine.base import EngineError
from engine.remote.http import Client, Endpoint


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        peer = self.connection.getpeercert()
        who = dict(x[0] for x in peer["subject"])["commonName"] if peer else None
        body = json.dumps({"client": who}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def https_server(pki: Pki, require_client: bool) -> tuple[ThreadingHTTPServer, str]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server)
    if require_client:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki.ca)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"https://127.0.0.1:{httpd.server_address[1]}"


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls(pki) -> Iterator[str]:
    httpd, url = https_server(pki, require_client=False)
    yield url
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def mtls(pki) -> Iterator[str]:
    httpd, url = https_server(pki, require_client=True)
    yield url
    httpd.shutdown()
    httpd.server_close()


def test_a_self_signed_endpoint_is_trusted_through_the_ca_bundle(pki, tls):
    answer = Client(Endpoint(tls, ca_bundle=str(pki.ca))).post_json("/json", {})
    assert answer == {"client": None}


def test_without_the_ca_the_certificate_is_refused(tls):
    with pytest.raises(EngineError, match=r"TLS with .* failed") as info:
        Client(Endpoint(tls)).post_json("/json", {})
    assert "CERTIFICATE_VERIFY_FAILED" in info.value.message
    assert "engine.ca_bundle" in info.value.hint


def test_mutual_tls(pki, mtls):
    answer = Client(Endpoint(mtls, ca_bundle=str(pki.ca), client_cert=str(pki.client))).post_json(
        "/json", {}
    )
    assert answer == {"client": "client"}  # the server saw our certificate
    with pytest.raises(EngineError):
        Client(Endpoint(mtls, ca_bundle=str(pki.ca))).post_json("/json", {})


def test_a_missing_ca_bundle_is_a_clear_error(tmp_path):
    with pytest.raises(EngineError, match="cannot set up TLS") as info:
        Client(Endpoint("https://127.0.0.1:1", ca_bundle=str(tmp_path / "nope.pem"))).post_json(
            "/json", {}
        )
    assert "engine.ca_bundle" in info.value.hint
