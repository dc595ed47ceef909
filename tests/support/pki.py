"""A throw-away PKI for TLS tests, made with the ``cryptography`` package: a CA, a
server certificate for 127.0.0.1/localhost and a client certificate.

Files in ``folder``: ``ca.pem``; ``server.crt`` / ``server.key`` and ``client.crt`` /
``client.key`` (certificate and key apart); ``server.pem`` / ``client.pem`` (both in
one file).
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pem_key(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class Pki:
    def __init__(self, folder: Path) -> None:
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = _name("safecoder test CA")

        def issue(subject: x509.Name, key, *, ca: bool, san=None) -> x509.Certificate:
            builder = (
                x509.CertificateBuilder()
                .subject_name(subject)
                .issuer_name(ca_name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            )
            if san:
                builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
            return builder.sign(ca_key, hashes.SHA256())

        self.folder = folder
        self.ca = folder / "ca.pem"
        self.ca.write_bytes(
            issue(ca_name, ca_key, ca=True).public_bytes(serialization.Encoding.PEM)
        )
        san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        for name, extra in (("server", san), ("client", None)):
            key = ec.generate_private_key(ec.SECP256R1())
            cert = issue(_name(name), key, ca=False, san=extra)
            cert_pem = cert.public_bytes(serialization.Encoding.PEM)
            (folder / f"{name}.crt").write_bytes(cert_pem)
            (folder / f"{name}.key").write_bytes(_pem_key(key))
            (folder / f"{name}.pem").write_bytes(cert_pem + _pem_key(key))
        self.server = folder / "server.pem"
        self.client = folder / "client.pem"

    def path(self, name: str) -> str:
        return str(self.folder / name)

    def client_context(self, *, with_cert: bool, trust: bool = True) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca) if trust else None)
        if with_cert:
            context.load_cert_chain(self.path("client.crt"), self.path("client.key"))
        return context
