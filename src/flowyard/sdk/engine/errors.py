"""Exceptions to state messages: the user's traceback, without the engine's frames."""

from __future__ import annotations

import os
import traceback

import flowyard

# Frames from these folders are the engine, not the user's code: a traceback in a state
# message should start at the user's function.
_SDK_DIR = os.path.join(os.path.dirname(flowyard.__file__), "sdk") + os.sep
MAX_MESSAGE = 20_000


def format_exception(exc: BaseException) -> str:
    """The traceback of ``exc`` (and its causes) with Flowyard's own frames left out."""
    te = traceback.TracebackException.from_exception(exc)
    current: traceback.TracebackException | None = te
    while current is not None:
        kept = [f for f in current.stack if not f.filename.startswith(_SDK_DIR)]
        current.stack = traceback.StackSummary.from_list(kept)
        current = current.__cause__ or current.__context__
    text = "".join(te.format())
    if len(text) > MAX_MESSAGE:
        half = MAX_MESSAGE // 2
        text = f"{text[:half]}\n... ({len(text) - MAX_MESSAGE} characters cut) ...\n{text[-half:]}"
    return text


def exception_message(kind: str, exc: BaseException) -> str:
    """A state message: one summary line, then the traceback."""
    return f"{kind} encountered an exception {type(exc).__name__}: {exc}\n{format_exception(exc)}"


def crash_message(exc: BaseException) -> str:
    """Why a run crashed or was cancelled, for a BaseException that is not an Exception."""
    if isinstance(exc, KeyboardInterrupt):
        return "Execution was interrupted by the user (KeyboardInterrupt)."
    if isinstance(exc, SystemExit):
        return f"Execution was aborted by a call to sys.exit({exc.code!r})."
    if type(exc).__name__ == "CancelledError":
        return "Execution was cancelled by the runtime environment."
    return f"Execution was aborted by {type(exc).__name__}: {exc}"
