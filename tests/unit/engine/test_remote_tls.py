"""TLS to a real HTTPS server on 127.0.0.1 with a self-signed CA made here: verified
with the CA bundle, refused without it, and mutual TLS with a client certificate."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from engine.base import EngineError
from engine.remote.http import Client, Endpoint


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _cert(subject, key, issuer, issuer_key, *, ca: bool, san=None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key) -> None:
    path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


class Pki:
    def __init__(self, folder: Path) -> None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _cert(_name("test CA"), ca_key, _name("test CA"), ca_key, ca=True)
        self.ca = folder / "ca.pem"
        self.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        for name, extra in (("server", san), ("client", None)):
            key = ec.generate_private_key(ec.SECP256R1())
            cert = _cert(_name(name), key, ca.subject, ca_key, ca=False, san=extra)
            _write(folder / f"{name}.pem", cert, key)
        self.server = folder / "server.pem"
        self.client = folder / "client.pem"


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
