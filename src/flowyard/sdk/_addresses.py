"""Where an outbound request may go: hosts are resolved once here, every address checked,
and the caller connects to the address it got back (not to the name again), so a DNS
answer that changes between the check and the connection (rebinding) cannot reach a
private address.

Also: taking the ``user:password@`` part out of URLs before they reach a message.
"""

from __future__ import annotations

import ipaddress
import re
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# scheme://user:secret@host -> scheme://host; also scp-like user@host: forms and URLs
# anywhere inside a longer text (git's own error lines quote the URL).
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s'\"]*@")


class PrivateAddressError(ValueError):
    """The host resolves to a loopback, private, link-local or otherwise non-public address."""

    def __init__(self, host: str, address: IPAddress) -> None:
        super().__init__(f"{host!r} resolves to a non-public address ({address}).")
        self.address = address


def redact_userinfo(text: str) -> str:
    """``text`` with the credentials of every ``scheme://user:secret@host`` URL removed."""
    return _URL_USERINFO.sub(r"\g<scheme>", text)


def _normalized(address: IPAddress) -> IPAddress:
    # ::ffff:127.0.0.1 is 127.0.0.1 on the wire.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def resolve_public(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, all of them public; the first is the one to use.

    Raises:
        PrivateAddressError: one of them is not a public address.
        OSError: the name does not resolve.
    """
    found: list[IPAddress] = []
    for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP):
        address = _normalized(ipaddress.ip_address(info[4][0]))
        if not address.is_global:
            raise PrivateAddressError(host, address)
        if address not in found:
            found.append(address)
    if not found:
        raise OSError(f"{host!r} does not resolve to any address.")
    return found
