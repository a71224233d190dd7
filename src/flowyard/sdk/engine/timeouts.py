"""Timeouts for synchronous user code.

Python cannot stop a thread from outside, so two mechanisms are used:

* In the main thread, ``SIGALRM`` (``setitimer``) raises the timeout inside the user's
  code, interrupting blocking calls such as ``time.sleep`` or socket reads.
* In any other thread (a task on the thread-pool runner), a timer thread raises the
  timeout asynchronously in the worker (``PyThreadState_SetAsyncExc``). That takes
  effect at the next Python bytecode, so a blocking C call finishes first.

Async code uses ``asyncio.wait_for`` instead and needs none of this.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Any

# Active main-thread deadlines, innermost last: (deadline, exception factory).
_deadlines: list[tuple[float, Callable[[], BaseException]]] = []
# The SIGALRM handler and timer that were in place before ours (pytest-timeout uses one):
# (handler, absolute deadline or None, interval). They are chained, then restored.
_foreign: list[Any] = []


def call_with_timeout(
    fn: Callable[[], Any], seconds: float, make_error: Callable[[], BaseException]
) -> Any:
    """Call ``fn()``; raise ``make_error()`` inside it if it runs longer than ``seconds``."""
    if seconds <= 0:
        raise make_error()
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        return _with_alarm(fn, seconds, make_error)
    return _with_async_exception(fn, seconds, make_error)


def _on_alarm(signum: int, frame: Any) -> None:
    now = time.monotonic()
    if _foreign and _foreign[1] is not None and _foreign[1] <= now + 0.001:
        handler = _foreign[0]
        _foreign[1] = None  # fired: it is not re-armed on exit
        _arm()
        if callable(handler):
            handler(signum, frame)
        elif handler == signal.SIG_DFL:
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.raise_signal(signal.SIGALRM)
    # Raise for the outermost expired deadline: an expired flow timeout wins over the
    # task timeout nested in it.
    for deadline, make_error in _deadlines:
        if deadline <= now + 0.001:
            raise make_error()
    _arm()


def _arm() -> None:
    pending = [d for d, _ in _deadlines]
    if _foreign and _foreign[1] is not None:
        pending.append(_foreign[1])
    if pending:
        remaining = min(pending) - time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, max(remaining, 0.0001))
    else:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _with_alarm(
    fn: Callable[[], Any], seconds: float, make_error: Callable[[], BaseException]
) -> Any:
    entry = (time.monotonic() + seconds, make_error)
    if not _deadlines:
        previous = signal.getsignal(signal.SIGALRM)
        remaining, interval = signal.setitimer(signal.ITIMER_REAL, 0)
        deadline = time.monotonic() + remaining if remaining > 0 else None
        _foreign[:] = [previous, deadline, interval]
        signal.signal(signal.SIGALRM, _on_alarm)
    _deadlines.append(entry)
    _arm()
    try:
        return fn()
    finally:
        _deadlines.remove(entry)
        if _deadlines:
            _arm()
        else:
            signal.setitimer(signal.ITIMER_REAL, 0)
            previous, deadline, interval = _foreign
            _foreign.clear()
            signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
            if deadline is not None:
                left = max(deadline - time.monotonic(), 0.0001)
                signal.setitimer(signal.ITIMER_REAL, left, interval)


def _with_async_exception(
    fn: Callable[[], Any], seconds: float, make_error: Callable[[], BaseException]
) -> Any:
    import ctypes

    target = threading.get_ident()
    lock = threading.Lock()
    state = {"running": True, "fired": False}
    error = make_error()

    def fire() -> None:
        with lock:
            if state["running"]:
                state["fired"] = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(target), ctypes.py_object(type(error))
                )

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        try:
            return fn()
        finally:
            with lock:
                state["running"] = False
                timer.cancel()
                if state["fired"]:
                    # Fired but maybe not delivered yet: withdraw it. If it lands before
                    # this line, the except clause below reports the timeout.
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), None)
    except type(error) as exc:
        if state["fired"]:
            # The async exception arrives as a bare class; raise the instance that
            # carries the message, with the traceback of where the code was stopped.
            raise error.with_traceback(exc.__traceback__) from None
        raise
