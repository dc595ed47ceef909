"""The egress guard: completions may only go to addresses inside the network.

By default an endpoint must resolve, at connect time, to loopback, private (RFC 1918,
IPv6 unique-local) or link-local addresses only. Anything else is refused before a
connection is attempted, with a message naming the host and the admin setting that
allows it. ``allowed`` adds host names or networks (CIDR) an administrator trusts.

Every address a name resolves to must pass (one public address among private ones is
refused: a DNS answer cannot smuggle a public address in), and the connection is made
to the checked address itself, never to a second resolution of the name.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from engine.base import EngineError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

INTERNAL: tuple[Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "127.0.0.0/8",  # loopback
        "::1/128",
        "10.0.0.0/8",  # RFC 1918
        "172.16.0.0/12",
        "192.168.0.0/16",
        "fc00::/7",  # unique local (ULA)
        "169.254.0.0/16",  # link-local
        "fe80::/10",
    )
)
SETTING = "network.allowed_hosts"


class EgressRefused(EngineError):
    """A connection the guard does not allow; nothing was sent."""


@dataclass(frozen=True)
class Allowed:
    """What may be reached besides internal addresses: exact host names and networks."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowed:
        """``["models.corp.example", "203.0.113.0/24", "2001:db8::5"]``; a bad entry
        is a ValueError naming it."""
        hosts: set[str] = set()
        networks: list[Network] = []
        for entry in entries:
            text = entry.strip()
            if not text:
                continue
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
                continue
            except ValueError:
                pass
            if not _is_host_name(text):
                raise ValueError(
                    f"{SETTING}: {entry!r} is neither a host name nor an address or network"
                )
            hosts.add(text.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))


def _is_host_name(text: str) -> bool:
    labels = text.rstrip(".").split(".")
    return all(
        0 < len(label) <= 63
        and label.replace("-", "").isalnum()
        and label.isascii()
        and not label.startswith("-")
        for label in labels
    )


def _plain(address: Address) -> Address:
    """An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is judged as the IPv4 one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_internal(address: Address) -> bool:
    address = _plain(address)
    return any(address in network for network in INTERNAL if network.version == address.version)


def check(host: str, addresses: Sequence[Address], allowed: Allowed) -> None:
    """Raise EgressRefused unless every one of ``addresses`` (what ``host`` resolved to)
    may be reached."""
    if host.lower().rstrip(".") in allowed.hosts:
        return
    for address in addresses:
        plain = _plain(address)
        if is_internal(plain) or any(
            plain in n for n in allowed.networks if n.version == plain.version
        ):
            continue
        shown = host if host == str(address) else f"{host} ({address})"
        raise EgressRefused(
            f"refused to send code to {shown}: not a loopback, private or link-local address.",
            f"If this endpoint is inside your network, an administrator can allow it with "
            f'{SETTING} = ["{host}"] in the policy file (SAFECODER_POLICY).',
        )


def resolve(host: str, port: int) -> list[tuple[int, Address]]:
    """(family, address) for ``host``, as the system resolver answers now."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise EngineError(
            f"cannot resolve the endpoint host {host!r}: {exc}.",
            "Check engine.url and the machine's DNS.",
        ) from exc
    found: dict[Address, int] = {}
    for family, _, _, _, sockaddr in infos:
        found.setdefault(ipaddress.ip_address(sockaddr[0].split("%")[0]), family)
    return [(family, address) for address, family in found.items()]


def connect(host: str, port: int, timeout: float | None, allowed: Allowed) -> socket.socket:
    """A TCP connection to ``host``, made only after every address it resolves to
    passed the guard, to one of those checked addresses."""
    resolved = resolve(host, port)
    check(host, [address for _, address in resolved], allowed)
    last: OSError | None = None
    for family, address in resolved:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect((str(address), port))
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise last if last is not None else OSError(f"no address for {host}")
