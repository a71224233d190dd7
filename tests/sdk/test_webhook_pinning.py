"""Webhook.call connects to the address it checked (no second DNS lookup a rebinding answer
could turn private), with the host's name in the Host header and, for https, in SNI."""

from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowyard.sdk.blocks import system
from flowyard.sdk.blocks.system import Webhook

# Reserved (RFC 2606): never resolves, so only a pinned connection can reach the server.
HOST = "hook.invalid"


class Seen:
    def __init__(self) -> None:
        self.hosts: list[str | None] = []
        self.bodies: list[bytes] = []
        self.sni: list[str | None] = []


def serve(tls: ssl.SSLContext | None, seen: Seen) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.hosts.append(self.headers.get("Host"))
            seen.bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def pinned_to_loopback(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """The address check answers 127.0.0.1 for HOST, as if it were the public address
    checked; the system resolver knows nothing of HOST."""
    asked: list[tuple[str, int]] = []

    def resolve_public(host: str, port: int) -> list[Any]:
        asked.append((host, port))
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(system, "resolve_public", resolve_public)
    return asked


def test_http_webhook_connects_to_the_checked_address(
    pinned_to_loopback: list[tuple[str, int]],
) -> None:
    seen = Seen()
    server = serve(None, seen)
    port = server.server_address[1]
    try:
        response = Webhook(url=f"http://{HOST}:{port}/hook").call({"a": 1})
    finally:
        server.shutdown()
        server.server_close()
    assert response.status_code == 204
    assert pinned_to_loopback == [(HOST, port)]
    assert seen.hosts == [f"{HOST}:{port}"] and seen.bodies == [b'{"a":1}']


def self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Seen]]:
    cert, key = self_signed(tmp_path)
    seen = Seen()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def remember(sock: Any, server_name: str | None, ctx: Any) -> None:
        seen.sni.append(server_name)

    context.sni_callback = remember
    server = serve(context, seen)
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


def test_https_webhook_keeps_the_name_for_sni(
    pinned_to_loopback: list[tuple[str, int]], tls_server: tuple[int, Seen]
) -> None:
    port, seen = tls_server
    response = Webhook(url=f"https://{HOST}:{port}/hook", verify=False).call("hi")
    assert response.status_code == 204
    assert seen.sni == [HOST] and seen.hosts == [f"{HOST}:{port}"] and seen.bodies == [b"hi"]


def test_private_answers_are_refused_without_naming_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        return [(2, 1, 6, "", ("10.0.0.5", port))]

    monkeypatch.setattr("flowyard.sdk._addresses.socket.getaddrinfo", getaddrinfo)
    with pytest.raises(ValueError, match=r"non-public address \(10\.0\.0\.5\)") as raised:
        Webhook(url="https://secret-hook.example.com/t0ken").call({})
    assert "secret-hook" not in str(raised.value)  # the URL is a secret
