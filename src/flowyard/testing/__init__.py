"""Test helpers for code that uses Flowyard.

- :func:`flowyard_test_harness`: a ``with`` block in embedded mode on a throwaway home;
- :func:`in_process_client`: an async client on a server in the current event loop;
- :func:`server_process`: a real ``flowyard server start`` subprocess, yielding its URL;
- ``flowyard.testing.pytest_plugin``: the fixtures ``flowyard_harness`` and
  ``flowyard_client`` (enable with ``pytest_plugins = ["flowyard.testing.pytest_plugin"]``).
"""

from __future__ import annotations

from flowyard.testing.harness import flowyard_test_harness, in_process_client
from flowyard.testing.server_process import server_process

__all__ = ["flowyard_test_harness", "in_process_client", "server_process"]
