"""Run logs: ``get_run_logger()``, readable console lines, batched shipping to the API.

Two loggers carry run logs: ``flowyard.flow_runs`` and ``flowyard.task_runs``. Every
record made through a run logger carries the run's ids; :class:`APILogHandler` hands such
records to the reporter (never one request per line) and the console handler prints
them as ``12:00:01.234 | INFO    | Task run 'add-0' - message``.

Logging is set up once, on the first run in the process, and only if the ``flowyard``
logger has no handlers yet, so an application's own logging configuration wins.
"""

from __future__ import annotations

import builtins
import logging
import sys
import threading
from typing import Any

from flowyard.schemas.limits import MAX_LOG_MESSAGE_LENGTH
from flowyard.sdk.context import FLOW_RUN, TASK_RUN, FlowRunContext, TaskRunContext

FLOW_LOGGER = logging.getLogger("flowyard.flow_runs")
TASK_LOGGER = logging.getLogger("flowyard.task_runs")
ENGINE_LOGGER = logging.getLogger("flowyard.engine")

_setup_lock = threading.Lock()
_configured = False
_original_print = builtins.print


class RunLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger bound to one run: every record carries the run's ids and names."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        """Merge the run's fields into the record's ``extra``."""
        extra = kwargs.get("extra")
        kwargs["extra"] = {**self.extra, **extra} if extra else self.extra  # type: ignore[dict-item]
        return msg, kwargs


def flow_run_logger(flow_run_id: Any, flow_run_name: str, flow_name: str = "") -> RunLogger:
    """A logger for a flow run's own lines."""
    return RunLogger(
        FLOW_LOGGER,
        {
            "flow_run_id": flow_run_id,
            "flow_run_name": flow_run_name,
            "flow_name": flow_name,
            "task_run_id": None,
            "task_run_name": None,
        },
    )


def task_run_logger(run: Any) -> RunLogger:
    """A logger for a task run (``run`` is a :class:`~flowyard.sdk.tasks.TaskRun`)."""
    return RunLogger(
        TASK_LOGGER,
        {
            "flow_run_id": run.flow_run_id,
            "flow_run_name": run.flow_run_name,
            "flow_name": run.flow_name,
            "task_run_id": run.id,
            "task_run_name": run.name,
        },
    )


def get_run_logger() -> RunLogger:
    """The logger of the current task run or flow run.

    Lines logged through it appear on the console and are recorded with the run in the
    API (in batches).

    Raises:
        RuntimeError: outside of any flow or task run.
    """
    task_ctx = TASK_RUN.get()
    if task_ctx is not None:
        return task_run_logger(task_ctx.task_run)
    flow_ctx = FLOW_RUN.get()
    if flow_ctx is not None:
        run = flow_ctx.flow_run
        return flow_run_logger(run.id, run.name, flow_ctx.flow.name)
    raise RuntimeError("get_run_logger() must be called from inside a flow or a task run.")


TRUNCATED = "\n... (truncated: longer than the server stores)"


def truncated(message: str) -> str:
    """The head of a message the server would refuse (it bounds a log message, as the
    official client does): one oversized line must not cost its whole batch."""
    return message[: MAX_LOG_MESSAGE_LENGTH - len(TRUNCATED)] + TRUNCATED


class APILogHandler(logging.Handler):
    """Queues run records on the reporter, which sends them in batches to ``POST /logs/``."""

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the record if it belongs to a run (and is not console-only)."""
        flow_run_id = getattr(record, "flow_run_id", None)
        task_run_id = getattr(record, "task_run_id", None)
        if flow_run_id is None and task_run_id is None:
            return  # not a run's record: nothing to attach it to
        if getattr(record, "console_only", False):
            return
        try:
            message = record.getMessage()
            if record.exc_info:
                message = f"{message}\n{self.formatter_for_exc().formatException(record.exc_info)}"
        except Exception:  # noqa: BLE001 - logging must never break a run
            self.handleError(record)
            return
        if len(message) > MAX_LOG_MESSAGE_LENGTH:
            message = truncated(message)
        reporter = _current_reporter()
        if reporter is not None:
            line = (record.name, record.levelno, message, record.created, flow_run_id, task_run_id)
            reporter.report_log(line)

    @staticmethod
    def formatter_for_exc() -> logging.Formatter:
        return logging.Formatter()


def _current_reporter() -> Any:
    ctx: TaskRunContext | FlowRunContext | None = TASK_RUN.get() or FLOW_RUN.get()
    if ctx is not None:
        return ctx.reporter
    from flowyard.sdk.engine import api

    return api.current_reporter()


class ConsoleFormatter(logging.Formatter):
    """``HH:MM:SS.mmm | LEVEL   | Flow run 'name' - message``."""

    def __init__(self) -> None:
        super().__init__(datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        """One line: time, level, the run's name, the message (then any traceback)."""
        task_name = getattr(record, "task_run_name", None)
        flow_name = getattr(record, "flow_run_name", None)
        if task_name:
            prefix = f"Task run {task_name!r} - "
        elif flow_name:
            prefix = f"Flow run {flow_name!r} - "
        else:
            prefix = ""
        stamp = f"{self.formatTime(record, self.datefmt)}.{int(record.msecs):03d}"
        text = f"{stamp} | {record.levelname:<7} | {prefix}{record.getMessage()}"
        if record.exc_info:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        return text


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now (it may be replaced after setup)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass  # always sys.stderr


def setup_logging() -> None:
    """Attach the console and API handlers to the ``flowyard`` logger (once per process)."""
    global _configured
    if _configured:
        return
    with _setup_lock:
        if _configured:
            return
        root = logging.getLogger("flowyard")
        api_handler = APILogHandler()
        for logger in (FLOW_LOGGER, TASK_LOGGER):
            logger.addHandler(api_handler)
        if not root.handlers:
            console = _StderrHandler()
            console.setFormatter(ConsoleFormatter())
            root.addHandler(console)
            root.propagate = False
        if root.level == logging.NOTSET:
            root.setLevel(_level_from_settings())
        _configured = True


def _level_from_settings() -> int:
    import os

    name = os.environ.get("FLOWYARD_LOGGING_LEVEL", "INFO").upper()
    level = logging.getLevelName(name)
    return level if isinstance(level, int) else logging.INFO


# -- log_prints ----------------------------------------------------------------------------


def install_print_capture() -> None:
    """Route ``print`` calls made inside runs with ``log_prints`` to the run logger.

    ``builtins.print`` is wrapped once per process; outside such runs (or when printing
    to a file other than stdout) it behaves exactly like the original.
    """
    if builtins.print is not _original_print:
        return
    builtins.print = _print


def _print(
    *args: Any, sep: str | None = " ", end: str | None = "\n", file: Any = None, flush: bool = False
) -> None:
    ctx: TaskRunContext | FlowRunContext | None = TASK_RUN.get() or FLOW_RUN.get()
    if ctx is None or not ctx.log_prints or (file is not None and file is not sys.stdout):
        _original_print(*args, sep=sep, end=end, file=file, flush=flush)
        return
    message = (" " if sep is None else sep).join(str(a) for a in args)
    get_run_logger().info(message, extra={"printed": True})
