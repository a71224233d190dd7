"""Trusted host names: the defence against DNS rebinding.

A web page on ``evil.example`` can have its name re-pointed at 127.0.0.1 and then read the
answers of a server on this machine as "same-origin" -- but its requests still say
``Host: evil.example``. So a request (or a websocket's ``Origin``) must name a host the
server answers to: loopback (127.0.0.0/8, ``localhost``, ``::1``), the address it listens
on, or one of ``FLOWYARD_SERVER_ALLOWED_HOSTS`` (``name``, ``*.domain`` for its
subdomains, or ``*`` for any host, e.g. behind a proxy that checks names itself).
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Iterable

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
# Addresses that mean "every interface": no client names them in its Host header.
WILDCARD_ADDRESSES = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - names, not a bind
# Host header values already found trusted, kept so that the next request with the same
# header costs one dict lookup. Bounded: only trusted values enter, but "*.domain" admits
# any number of names.
KNOWN_GOOD_LIMIT = 256


def host_name(value: str) -> str:
    """The host of a ``Host`` header value: no port, no IPv6 brackets, lower case, no
    trailing dot."""
    value = value.strip().lower()
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    return value.rstrip(".")


def is_loopback(name: str) -> bool:
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class TrustedHosts:
    """The host names this server answers to."""

    def __init__(self, configured: Iterable[str], listen_host: str) -> None:
        names = {host_name(entry) for entry in configured}
        self.any = "*" in names
        self._suffixes = tuple(name[1:] for name in names if name.startswith("*."))
        self._names = {name for name in names if not name.startswith("*")}
        listening = host_name(listen_host)
        if listening not in WILDCARD_ADDRESSES:
            self._names.add(listening)
        self._known_good: set[bytes] = set()

    def allows(self, name: str) -> bool:
        """Whether ``name`` (a bare host name, as :func:`host_name` gives) is trusted."""
        return (
            self.any
            or name in self._names
            or is_loopback(name)
            or (bool(self._suffixes) and name.endswith(self._suffixes))
        )

    def allows_header(self, value: bytes) -> bool:
        """Whether a raw ``Host`` header value names a trusted host."""
        if self.any or value in self._known_good:
            return True
        if not self.allows(host_name(value.decode("latin-1"))):
            return False
        if len(self._known_good) < KNOWN_GOOD_LIMIT:
            self._known_good.add(value)
        return True

    def allows_origin(self, value: bytes) -> bool:
        """Whether a websocket's ``Origin`` header names a page on a trusted host (an
        opaque ``null`` origin -- a sandboxed frame, a local file -- is not trusted)."""
        if self.any:
            return True
        try:
            hostname = urllib.parse.urlsplit(value.decode("latin-1").strip()).hostname
        except ValueError:
            return False
        return hostname is not None and self.allows(host_name(hostname))
