"""``python -m flowyard.workers.warm``: an interpreter kept ready for a worker's next run.

It imports what executing a flow run needs, then waits for one line on stdin: the run's
environment and working directory (JSON). It takes that environment as its own, moves to
the folder and executes the run exactly as ``python -m flowyard.sdk.execute`` does. An empty
stdin (the worker discarded it) ends it quietly.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> int:
    # The expensive part of starting a run, done before the run is known.
    import flowyard.sdk.engine.flow_engine  # noqa: F401
    import flowyard.sdk.execute as execute
    from flowyard.client import get_sync_client  # noqa: F401

    line = sys.stdin.readline()
    if not line.strip():
        return 0
    order = json.loads(line)
    os.environ.clear()
    os.environ.update(order["env"])
    cwd = order.get("cwd")
    if cwd:
        os.chdir(cwd)
    # As if started there: the working directory first on the import path.
    sys.path[0] = os.getcwd()
    from flowyard.settings import cached_settings

    cached_settings.cache_clear()
    return execute.main()


if __name__ == "__main__":
    sys.exit(main())
