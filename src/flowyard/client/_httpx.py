"""httpx, imported without its command-line tool.

httpx's ``__init__`` imports its ``httpx`` command (``httpx._main``) whenever click and
rich are installed, as they are for our CLI: with pygments, a fifth of a one-flow script's
start-up, for a tool no client runs. A ``None`` in ``sys.modules`` makes that one import
fail, so httpx installs its stub ``main`` instead; the entry is removed at once, so a later
``import httpx._main`` works as usual. Modules of the client import httpx from here.
"""

from __future__ import annotations

import sys

if "httpx" not in sys.modules:
    sys.modules["httpx._main"] = None  # type: ignore[assignment]
    try:
        import httpx as httpx
    finally:
        del sys.modules["httpx._main"]
else:
    import httpx as httpx
