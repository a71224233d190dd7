"""Fixtures of the API tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from race_helpers import RACING, Contention


@pytest.fixture(params=["race" if RACING else "serialised"])
def contention(request: pytest.FixtureRequest) -> Iterator[Contention]:
    """Requests sent at once: ``[race]`` on PostgreSQL, ``[serialised]`` on SQLite."""
    contention = Contention(request.param == "race")
    yield contention
    contention.release()
