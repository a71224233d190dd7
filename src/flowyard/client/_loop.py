"""One event loop per process, on a background thread, for work that outlives any caller's loop.

Two things live here: the embedded server (its database connections belong to one loop,
yet it serves callers from any loop, or from plain threads) and the sync client (which
runs the async client's coroutines here and blocks on the result).

Shutdown happens when the main thread finishes: a small non-daemon watcher thread waits
for it, runs the registered finalizers on the loop (closing the embedded server, which
disposes its database connections) and stops the loop. It must happen then, not in an
``atexit`` hook: the interpreter joins non-daemon threads (SQLite driver threads among
them) *before* ``atexit`` hooks run, so closing them there would come too late.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_watcher: threading.Thread | None = None
_finalizers: list[Callable[[], Awaitable[None]]] = []
_last_finalizers: list[Callable[[], Awaitable[None]]] = []


def background_loop() -> asyncio.AbstractEventLoop:
    """The process's background loop, started on first use."""
    global _loop, _thread, _watcher
    with _lock:
        if _loop is not None:
            return _loop
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        thread = threading.Thread(target=run, name="flowyard-client-loop", daemon=True)
        thread.start()
        ready.wait()
        _loop, _thread = loop, thread
        if _watcher is None:
            _watcher = threading.Thread(target=_shutdown_after_main, name="flowyard-exit")
            _watcher.start()
        return loop


def in_background_thread() -> bool:
    """Whether the caller is running on the background loop's own thread."""
    return _thread is not None and threading.current_thread() is _thread


def run_in_background(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the background loop and block until it is done.

    Raises:
        RuntimeError: when called from the background loop itself, which would deadlock.
    """
    if in_background_thread():
        coro.close()
        raise RuntimeError(
            "A blocking Flowyard call was made from the client's own event loop; "
            "use the async client (get_client) there instead."
        )
    future = asyncio.run_coroutine_threadsafe(coro, background_loop())
    try:
        return future.result()
    except BaseException:
        future.cancel()  # e.g. KeyboardInterrupt: do not leave the request running
        raise


def add_finalizer(finalizer: Callable[[], Awaitable[None]], *, last: bool = False) -> None:
    """Run ``finalizer`` on the background loop when the process shuts down (once).

    Finalizers run newest first. ``last=True`` ones run after all the others: the
    embedded server registers its shutdown that way, so that finalizers which still send
    requests (flushing buffered logs, say) find it running.
    """
    with _lock:
        target = _last_finalizers if last else _finalizers
        if finalizer not in target:
            target.append(finalizer)


def remove_finalizer(finalizer: Callable[[], Awaitable[None]]) -> None:
    with _lock:
        for target in (_finalizers, _last_finalizers):
            if finalizer in target:
                target.remove(finalizer)


def shutdown() -> None:
    """Run the finalizers, then stop the background loop and its thread.

    Safe to call more than once; the next use of :func:`background_loop` starts afresh.
    """
    global _loop, _thread
    with _lock:
        loop, thread = _loop, _thread
    if loop is None or thread is None:
        return

    async def finalize() -> None:
        # Until none are left: a finalizer may cause another to be registered (a late
        # request restarts the embedded server, which registers its shutdown again).
        while True:
            with _lock:
                batch = [*reversed(_finalizers), *_last_finalizers]
                _finalizers.clear()
                _last_finalizers.clear()
            if not batch:
                break
            for finalizer in batch:
                try:
                    await finalizer()
                except Exception:  # noqa: BLE001 - one failing finalizer must not skip the rest
                    import logging

                    logging.getLogger("flowyard.client").exception("Error during shutdown")
        await loop.shutdown_asyncgens()
        await loop.shutdown_default_executor()

    # The loop stays registered while finalizers run: they may still send requests.
    asyncio.run_coroutine_threadsafe(finalize(), loop).result()
    with _lock:
        _loop = _thread = None
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()


def _shutdown_after_main() -> None:
    threading.main_thread().join()
    shutdown()
