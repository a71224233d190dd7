"""Requests sent at once: whether they really race in this test run (see :class:`Contention`),
and the gate that makes sure they do. The ``contention`` fixture (``conftest.py``) gives one."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

RACING = bool(os.environ.get("FLOWYARD_TEST_DATABASE_URL"))
# Long enough for any loaded machine; reaching it means the requests cannot all be in flight
# at once (each holds a pooled connection while it waits), which is a broken test, not a slow one.
GATE_TIMEOUT = 120.0


class Gate:
    """Holds the first ``n`` calls of a function until all ``n`` are waiting."""

    def __init__(self, n: int, where: str) -> None:
        self.n = n
        self.where = where
        self.arrived = 0
        self.met = False
        self._everyone = asyncio.Event()

    async def wait(self) -> bool:
        """Wait for the others; True for the first ``n`` calls, False for later ones."""
        self.arrived += 1
        if self.arrived > self.n:
            return False
        if self.arrived == self.n:
            self.met = True
            self._everyone.set()
        try:
            await asyncio.wait_for(self._everyone.wait(), GATE_TIMEOUT)
        except TimeoutError:
            raise AssertionError(
                f"only {self.arrived} of {self.n} requests reached {self.where}"
            ) from None
        return True


class Contention:
    """Whether requests sent together really race in this test run, and a way to make sure
    they do.

    On PostgreSQL every request has its own connection and transaction, so requests sent
    together interleave; :meth:`hold` makes them all pass one point (the read that finds
    nothing yet, the lock they queue on) before any goes on, so the race the test is about
    happens every time, not now and then. On SQLite the server has one writer: write
    transactions run one after another and there is no race to test -- the same test then
    only checks that the requests, repeated one after another, end the same way. The test id
    says which it is: ``[race]`` on PostgreSQL, ``[serialised]`` on SQLite.
    """

    def __init__(self, racing: bool) -> None:
        self.racing = racing
        # Its own: undoing it must not undo the test's other patches (FLOWYARD_HOME...).
        self.monkeypatch = pytest.MonkeyPatch()

    def hold(self, module: Any, name: str, n: int, *, answer: Any = ...) -> Gate:
        """On PostgreSQL, wrap ``module.name`` so that its first ``n`` calls (one per
        request) wait until all ``n`` have arrived, then run; with ``answer``, those calls
        return it instead of the real result (what every loser of the race saw). On SQLite
        (no race), nothing is wrapped and the gate stays unmet."""
        gate = Gate(n, f"{module.__name__}.{name}")
        if not self.racing:
            return gate
        original: Callable[..., Awaitable[Any]] = getattr(module, name)

        async def held(*args: Any, **kwargs: Any) -> Any:
            held_back = await gate.wait()
            result = await original(*args, **kwargs)
            return answer if held_back and answer is not ... else result

        self.monkeypatch.setattr(module, name, held)
        return gate

    def release(self) -> None:
        """Unwrap everything :meth:`hold` wrapped."""
        self.monkeypatch.undo()
