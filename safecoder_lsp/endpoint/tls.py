"""The endpoint's TLS: a server certificate, and client certificates when asked.

Every file is checked at start, with an error that names the option and says what
is wrong (missing, unreadable, not PEM, key and certificate not a pair).
"""

from __future__ import annotations

import os
import ssl


class TlsError(Exception):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def _readable(option: str, path: str) -> None:
    if not os.path.isfile(path):
        raise TlsError(f"{option} {path} does not exist or is not a file.", f"Check {option}.")
    if not os.access(path, os.R_OK):
        raise TlsError(
            f"{option} {path} is not readable by this user.",
            f"Give this user read access to it, or copy it with mode 0600 and point {option} "
            "at the copy.",
        )


def server_context(cert: str, key: str = "", client_ca: str = "") -> ssl.SSLContext:
    """A TLS 1.2+ server context; with ``client_ca``, clients need a certificate
    signed by it (mutual TLS)."""
    _readable("--tls-cert", cert)
    if key:
        _readable("--tls-key", key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        # an encrypted key fails here instead of prompting on the terminal
        context.load_cert_chain(cert, key or None, password=lambda: b"")
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc):
            raise TlsError(
                f"the private key {key or cert} does not belong to the certificate {cert} "
                f"({exc.reason}).",
                "Pass the key that was made with this certificate as --tls-key.",
            ) from exc
        raise TlsError(
            f"cannot load the certificate {cert}"
            + (f" and key {key}" if key else "")
            + f": {exc.reason or exc}.",
            "--tls-cert must be a PEM certificate (chain) and --tls-key its PEM private key "
            "(unencrypted; it may also sit in the --tls-cert file).",
        ) from exc
    if client_ca:
        _readable("--tls-client-ca", client_ca)
        try:
            context.load_verify_locations(cafile=client_ca)
        except ssl.SSLError as exc:
            raise TlsError(
                f"cannot load the client CA {client_ca}: {exc.reason or exc}.",
                "--tls-client-ca must be a PEM file of the CA certificate(s) that sign the "
                "clients' certificates.",
            ) from exc
        context.verify_mode = ssl.CERT_REQUIRED
    return context
