"""The server API key (``FLOWYARD_SERVER_API_KEY``) and the credentials that present it.

Three ways to present the key, because three kinds of client must be able to:

- ``Authorization: Bearer <key>``: our client (``FLOWYARD_API_KEY``) and the official one
  (``PREFECT_API_KEY``) over HTTP;
- ``Authorization: Basic base64(user:key)`` (or ``base64(key)``): the official client with
  ``PREFECT_API_AUTH_STRING``, over HTTP and on its websocket upgrades;
- a websocket's first frame ``{"type": "auth", "token": "user:key" | "key"}``: the official
  client sends ``PREFECT_API_AUTH_STRING`` there (and nothing at all for
  ``PREFECT_API_KEY`` on a self-hosted URL), so this is how its websockets authenticate.

Every comparison is :func:`hmac.compare_digest`: the time it takes does not depend on how
much of a guess was right (only, as for any such comparison, on the guess's length).
"""

from __future__ import annotations

import base64
import binascii
import hmac


class ApiKey:
    """Decides whether a credential carries the key."""

    def __init__(self, key: str) -> None:
        self._key = key.encode()

    def accepts_header(self, authorization: bytes) -> bool:
        """Whether an ``Authorization`` header value (Bearer or Basic) carries the key."""
        scheme, _, credentials = authorization.strip().partition(b" ")
        scheme = scheme.lower()
        if scheme == b"bearer":
            return hmac.compare_digest(credentials.strip(), self._key)
        if scheme == b"basic":
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True)
            except (binascii.Error, ValueError):
                return False
            return self.accepts_token(decoded)
        return False

    def accepts_token(self, token: object) -> bool:
        """Whether a websocket auth token (or a decoded Basic credential) carries the key:
        the whole of it, or its password part after the first ``:``."""
        if isinstance(token, str):
            token = token.encode()
        if not isinstance(token, bytes) or not token:
            return False
        _, colon, password = token.partition(b":")
        whole = hmac.compare_digest(token, self._key)
        after_colon = bool(colon) and hmac.compare_digest(password, self._key)
        return whole or after_colon
