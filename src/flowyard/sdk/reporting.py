"""The background reporter: task-run states and log lines leave the process in batches.

Task runs are orchestrated in the process that runs them; the API only has to *record*
what happened. The engine hands the reporter a tiny tuple per state change (an append
to a deque: well under a microsecond) and one daemon thread turns them into task-run
reports (``POST /task_runs/reports``: the facts of the official client's
``prefect.task-run.<StateName>`` events in a fraction of the bytes) and sends them in
batches, with the log lines collected meanwhile.

Guarantees:

* **Nothing lost.** A flow flushes before it reports its own final state, a top-level
  flow flushes again before it returns, and an ``atexit`` hook flushes whatever is left
  (also after an exception or ``KeyboardInterrupt``). A failed send is retried.
* **Bounded memory.** Past ``max_pending`` queued items, producers wait for the thread
  to drain (backpressure) instead of growing without limit.
* **Cheap on the wire.** Within one batch, the updates of a run are coalesced into one
  report carrying the latest state and the run's counters (run count, start and end
  times), so a task that started and finished between two flushes costs one report.
"""

from __future__ import annotations

import atexit
import collections
import datetime as dt
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from flowyard.sdk.states import State
    from flowyard.sdk.tasks import TaskRun

FLUSH_INTERVAL = 1.0
MAX_PENDING = 20_000
WAKE_AT = 2_000
REPORTS_PER_REQUEST = 1_000
LOGS_PER_REQUEST = 1_000
SEND_ATTEMPTS = 5


class Sink(Protocol):
    """Where batches go: the API (over HTTP, or straight into the embedded server)."""

    def report_task_runs(self, reports: list[dict[str, Any]]) -> None:
        """Store a batch of task-run reports (``POST /task_runs/reports``)."""

    def create_logs(self, logs: list[dict[str, Any]]) -> None:
        """Store a batch of log lines (``POST /logs/``)."""


class ReporterLike(Protocol):
    """What the engine needs of a reporter (the real one, or a worker's collector)."""

    def report_task_run(self, run: TaskRun, state: State) -> None:
        """Record that ``run`` entered ``state``."""

    def report_log(self, line: tuple[str, int, str, float, Any, Any]) -> None:
        """Record one log line."""

    def flush(self, timeout: float | None = None) -> bool:
        """Hand everything recorded so far on; True when done."""


class Reporter:
    """Batches task-run updates and logs to a :class:`Sink` from one daemon thread."""

    def __init__(
        self,
        sink: Sink,
        *,
        interval: float = FLUSH_INTERVAL,
        max_pending: int = MAX_PENDING,
        register_atexit: bool = True,
    ) -> None:
        self.sink = sink
        self.interval = interval
        self.max_pending = max_pending
        # Past this many queued items a producer wakes the thread (and maybe waits).
        self._check_at = min(WAKE_AT, max_pending)
        self.sent_reports = 0
        self.sent_logs = 0
        self.dropped = 0
        self._queue: collections.deque[Any] = collections.deque()
        self._wake = threading.Event()
        self._room = threading.Event()
        self._closed = False
        self._busy = False
        self._thread = threading.Thread(target=self._loop, name="flowyard-reporter", daemon=True)
        self._thread.start()
        self._atexit = register_atexit
        if register_atexit:
            atexit.register(self.close)

    # -- producers (any thread; the hot path) ------------------------------------------

    def report_task_run(self, run: TaskRun, state: State) -> None:
        """Record that ``run`` entered ``state`` (call after updating the run's counters)."""
        queue = self._queue
        queue.append((run, state, run.run_count, run.start_time, run.end_time))
        if len(queue) >= self._check_at:
            self._backpressure()

    def report_log(self, line: tuple[str, int, str, float, Any, Any]) -> None:
        """Queue one log line ``(name, level, message, created, flow_run_id, task_run_id)``."""
        queue = self._queue
        queue.append(line)
        if len(queue) >= self._check_at:
            self._backpressure()

    def _backpressure(self) -> None:
        if not self._wake.is_set():  # is_set takes no lock; set() does
            self._wake.set()
        if len(self._queue) <= self.max_pending or threading.current_thread() is self._thread:
            return  # below the bound, or the reporter itself (it never waits on itself)
        while len(self._queue) > self.max_pending and self._thread.is_alive():
            self._room.clear()
            self._wake.set()
            self._room.wait(0.05)

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued so far; True once it has been handed to the sink."""
        return self.request_flush().wait(timeout)

    def request_flush(self) -> threading.Event:
        """Ask for a flush without waiting; the event is set once it is done."""
        done = threading.Event()
        if not self._queue and not self._busy:
            done.set()  # nothing queued, nothing in flight: no need to wake the thread
            return done
        if not self._thread.is_alive():
            self._drain()
            done.set()
            return done
        self._queue.append(done)
        self._wake.set()
        return done

    def close(self) -> None:
        """Flush and stop the thread (idempotent; also runs at interpreter exit)."""
        if self._closed:
            return
        self.flush(timeout=60)
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=5)
        if self._atexit:
            atexit.unregister(self.close)

    # -- the reporter thread -----------------------------------------------------------

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(self.interval)
            self._wake.clear()
            self._busy = True
            try:
                self._drain()
            finally:
                self._busy = False

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            runs: dict[Any, tuple[Any, ...]] = {}
            passed: dict[Any, list[dict[str, Any]]] = {}
            logs: list[dict[str, Any]] = []
            waiters: list[threading.Event] = []
            for _ in range(len(queue)):
                item = queue.popleft()
                if isinstance(item, threading.Event):
                    waiters.append(item)
                elif len(item) == 5:
                    # Later updates of a run replace earlier ones; the states replaced are
                    # still listed, so each becomes its event on the server.
                    earlier = runs.get(item[0].id)
                    if earlier is not None:
                        passed.setdefault(item[0].id, []).append(_passed_state(earlier[1]))
                    runs[item[0].id] = item
                else:
                    logs.append(_log_dict(item))
            self._room.set()
            reports = [_task_run_report(*update) for update in runs.values()]
            if passed:
                for report in reports:
                    states = passed.get(report["id"])
                    if states:
                        report["passed_states"] = states
            for start in range(0, len(reports), REPORTS_PER_REQUEST):
                chunk = reports[start : start + REPORTS_PER_REQUEST]
                if self._send(self.sink.report_task_runs, chunk):
                    self.sent_reports += len(chunk)
            for start in range(0, len(logs), LOGS_PER_REQUEST):
                chunk = logs[start : start + LOGS_PER_REQUEST]
                if self._send(self.sink.create_logs, chunk):
                    self.sent_logs += len(chunk)
            for waiter in waiters:
                waiter.set()

    def _send(self, method: Any, batch: list[dict[str, Any]]) -> bool:
        delay = 0.1
        for attempt in range(SEND_ATTEMPTS):
            try:
                method(batch)
                return True
            except Exception as exc:  # noqa: BLE001 - a reporter must survive any send error
                if attempt == SEND_ATTEMPTS - 1:
                    self.dropped += len(batch)
                    # stderr, not logging: a log record would come straight back here.
                    print(
                        f"flowyard: could not record {len(batch)} item(s): {exc}",
                        file=sys.stderr,
                    )
                    return False
                time.sleep(delay)
                delay = min(delay * 4, 5.0)
        return False


class CollectingReporter:
    """A reporter that only keeps what it is given: used in process-pool workers, whose
    updates and logs travel back to the parent with the task's result."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    def report_task_run(self, run: TaskRun, state: State) -> None:
        """Keep the update (same tuple as :meth:`Reporter.report_task_run`)."""
        self.items.append((run, state, run.run_count, run.start_time, run.end_time))

    def report_log(self, line: tuple[str, int, str, float, Any, Any]) -> None:
        """Keep the log line."""
        self.items.append(line)

    def flush(self, timeout: float | None = None) -> bool:
        """Nothing to send: the parent forwards :attr:`items`."""
        return True

    def replay_into(self, reporter: ReporterLike) -> None:
        """Forward everything kept to another reporter, in order."""
        for item in self.items:
            if len(item) == 5:
                run, state, run_count, start, end = item
                run.run_count, run.start_time, run.end_time = run_count, start, end
                reporter.report_task_run(run, state)
            else:
                reporter.report_log(item)
        self.items = []


# -- wire shapes (built in the reporter thread, never on the hot path) -------------------


# Formatted date-times of recent seconds: the timestamps of a batch fall in a few seconds,
# so each one's "YYYY-MM-DDTHH:MM:SS" is formatted once, not once per timestamp.
_second_prefixes: dict[int, str] = {}


def iso(ts: float | None) -> str | None:
    """Seconds since the epoch as an ISO-8601 UTC timestamp (microsecond precision)."""
    if ts is None:
        return None
    second = int(ts)
    prefix = _second_prefixes.get(second)
    if prefix is None:
        if len(_second_prefixes) > 256:
            _second_prefixes.clear()
        prefix = dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second_prefixes[second] = prefix
    return f"{prefix}.{int((ts - second) * 1_000_000):06d}+00:00"


def utc(ts: float | None) -> dt.datetime | None:
    """Seconds since the epoch as an aware UTC datetime (the JSON encoder writes it ISO-8601)."""
    return None if ts is None else _from_timestamp(ts, _UTC)


_UTC = dt.UTC
_from_timestamp = dt.datetime.fromtimestamp


def _policy(run: TaskRun) -> dict[str, Any]:
    return {
        "max_retries": 0,
        "retry_delay_seconds": 0.0,
        "retries": run.retries,
        "retry_delay": run.retry_delay,
        "retry_jitter_factor": run.retry_jitter_factor,
    }


def _task_run_report(
    run: TaskRun, state: State, run_count: int, start: float | None, end: float | None
) -> dict[str, Any]:
    """The run after ``state``, as a ``TaskRunReport`` (flowyard.schemas.task_run_reports):
    the facts of a ``prefect.task-run.<State>`` event, without its repetitions. Fields at
    their defaults are left out."""
    details = state.to_wire()["state_details"] if state.state_details else {}
    # A persisted result travels as its record's metadata; other values stay local.
    data = state.result_metadata
    if state.type == "COMPLETED" and data is None:
        details["untrackable_result"] = True
    report: dict[str, Any] = {
        "id": run.id,
        "flow_run_id": run.flow_run_id,
        "name": run.name,
        "task_key": run.task_key,
        "dynamic_key": run.dynamic_key,
        "state_id": state.id,
        "state_type": state.type,
        "state_name": state.name,
        "state_timestamp": _from_timestamp(state.ts, _UTC),
        "state_message": state.message or "",
        "state_details": details,
        "run_count": run_count,
        "flow_run_run_count": run.flow_run_run_count,
        "expected_start_time": utc(run.expected_start_time),
        "start_time": utc(start),
        "end_time": utc(end),
        "total_run_time": (end - start) if (start is not None and end is not None) else 0.0,
        "empirical_policy": _policy(run),
    }
    if data is not None:
        report["state_data"] = data
    if run.tags:
        report["tags"] = sorted(run.tags)
    if run.task_inputs:
        report["task_inputs"] = run.task_inputs
    if run.task_version is not None:
        report["task_version"] = run.task_version
    return report


def _passed_state(state: State) -> dict[str, Any]:
    # The clock reading as it is (Unix seconds): no datetime or id made on the hot path.
    return {"type": state.type, "name": state.name, "timestamp": state.ts}


def _log_dict(line: tuple[str, int, str, float, Any, Any]) -> dict[str, Any]:
    name, level, message, created, flow_run_id, task_run_id = line
    return {
        "name": name,
        "level": level,
        "message": message,
        "timestamp": iso(created),
        "flow_run_id": str(flow_run_id) if flow_run_id else None,
        "task_run_id": str(task_run_id) if task_run_id else None,
    }
