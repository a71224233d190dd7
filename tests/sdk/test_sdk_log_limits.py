"""A log line longer than the server stores is sent truncated: the server refuses the whole
batch an oversized line is in (a 422), which would lose its neighbours."""

from __future__ import annotations

from typing import Any

from flowyard import flow, get_run_logger
from flowyard.schemas.limits import MAX_LOG_MESSAGE_LENGTH
from flowyard.sdk.context import get_run_context


def test_an_oversized_line_is_truncated_and_its_neighbours_kept(recorded: Any) -> None:
    @flow
    def chatty() -> Any:
        logger = get_run_logger()
        logger.info("before")
        logger.info("x" * (MAX_LOG_MESSAGE_LENGTH + 10))
        logger.info("after")
        return get_run_context().flow_run.id  # type: ignore[union-attr]

    run_id = chatty()
    recorded.flush()
    messages = [log.message for log in recorded.logs(run_id)]
    assert "before" in messages and "after" in messages
    (long,) = [m for m in messages if m.startswith("xxx")]
    assert len(long) == MAX_LOG_MESSAGE_LENGTH and long.endswith(
        "(truncated: longer than the server stores)"
    )
