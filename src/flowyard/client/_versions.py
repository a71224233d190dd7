"""The versions a client states: the Prefect REST API version it speaks (sent on every
request, as the official client does) and the Prefect release it is compatible with.

A module of constants only, so that ``flowyard version`` shows them without importing
httpx, pydantic or the server; tests keep them equal to the server's.
"""

from __future__ import annotations

API_VERSION = "0.8.4"
COMPATIBLE_PREFECT_VERSION = "3.9.1"
