"""Workers: processes that take a work pool's due flow runs and run them.

- ``base``: the loop (heartbeat, long-poll, claim, watch, cancel) shared by worker types;
- ``process``: the process worker (``flowyard worker start``), one subprocess per run;
- ``launcher``: :class:`~flowyard.workers.launcher.FlowRunProcess`, a run's process,
  shared with ``serve()``;
- ``templates``: a pool's base job template filled with job variables;
- ``engines``: which engine runs a run, Flowyard's or the official one (by its command);
- ``warm``: the interpreter a process worker keeps ready for its next run.
"""
