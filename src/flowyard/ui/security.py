"""What keeps the UI's pages safe to open and its forms safe to submit.

Headers: every UI answer (pages, partials, errors, static files) carries a
Content-Security-Policy that allows scripts and styles from this origin only (no inline
script, no inline style: the templates have neither), refuses framing, and sends no
referrer to other sites.

CSRF: double-submit. Each browser gets a random token in a ``SameSite=Strict`` cookie; every
form renders the same token in a hidden field (htmx requests send it as a header, set once
on ``<body>``). A POST whose field or header does not match the cookie is refused with 403
before any operation runs. Another site can make the browser send the cookie, but cannot
read it, so it cannot put the matching value in the form.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.datastructures import MutableHeaders

CSRF_COOKIE = "flowyard_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
CSRF_TOKEN_BYTES = 32

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def add_security_headers(headers: MutableHeaders) -> None:
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(CSRF_TOKEN_BYTES)


def csrf_token_matches(cookie: str | None, submitted: str | None) -> bool:
    if not cookie or not submitted:
        return False
    # Constant time: the comparison must not tell an attacker how much of a guess is right.
    return hmac.compare_digest(cookie.encode(), submitted.encode())
