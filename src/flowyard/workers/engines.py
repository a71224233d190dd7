"""Which engine runs a flow run on a Flowyard worker: Flowyard's, or the official one.

The deployment decides, through the ``command`` of its job configuration:

- A deployment made with Flowyard's SDK carries the command of Flowyard's engine in its job
  variables (:data:`flowyard.sdk.deployments.ENGINE_COMMAND`, ``python -m
  flowyard.sdk.execute``). That is what lets any worker that honours the job template (the
  official ``ProcessWorker`` does) start it with our engine, and it is how this worker tells
  it apart: a bare ``python`` there means "a Python with Flowyard", and this worker's own
  interpreter is one (``PATH``'s may not be), which can also take the kept-ready spare.
- No command is what a deployment made with the official SDK gets on a pool whose template
  leaves ``command`` blank. ``prefect==3.9.1``'s ``ProcessWorker`` then runs ``<its own
  python> -m prefect.engine``, and so does this worker when its interpreter has ``prefect``:
  only the official engine gives such a flow its context (``get_run_logger()``,
  ``prefect.runtime``). Without ``prefect`` here there is no official engine to run;
  Flowyard's engine runs the flow's function instead, which serves code that needs no
  official runtime (and is what this worker did before it knew the official engine).
- Any other command is run as given: the user chose it (e.g. another venv's python).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import sys

FLOWYARD_ENGINE_MODULE = "flowyard.sdk.execute"
OFFICIAL_ENGINE_MODULE = "prefect.engine"
_BARE_PYTHON = re.compile(r"python(3(\.\d+)?)?")


@functools.cache
def official_engine_installed() -> bool:
    """Whether this interpreter can run ``python -m prefect.engine`` (looked up without
    importing it: importing ``prefect`` takes seconds)."""
    return importlib.util.find_spec("prefect") is not None


def is_flowyard_engine(argv: list[str]) -> bool:
    """Whether ``argv`` is Flowyard's engine run by whichever ``python`` is at hand (the
    command a Flowyard deployment carries), rather than by an interpreter the user named."""
    return (
        len(argv) == 3
        and os.sep not in argv[0]
        and _BARE_PYTHON.fullmatch(argv[0]) is not None
        and argv[1:] == ["-m", FLOWYARD_ENGINE_MODULE]
    )


def engine_command(configured: list[str], *, official_engine: bool) -> list[str] | None:
    """The argv that runs a flow run whose job configuration gives ``configured`` (empty:
    no command); None when Flowyard's engine runs it in this worker's interpreter.

    Args:
        configured: the job configuration's command, as an argv list.
        official_engine: whether this worker can run the official engine (``prefect`` is
            installed and the run's process can reach the server over HTTP).
    """
    if not configured:
        return [sys.executable, "-m", OFFICIAL_ENGINE_MODULE] if official_engine else None
    if is_flowyard_engine(configured):
        return None
    return configured
