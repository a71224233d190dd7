"""The application layer: the only entry for routers, websockets, UI pages, services and
automations.

Each module holds the operations of one resource (``operations/flow_runs.py``, ...). An
operation is ``async def name(tx, ...) -> schema``, declared with ``@operation(permission,
writes=...)`` (:mod:`.context`): the decorator is the one place permissions are checked, and
it opens the read session or write transaction the operation runs in. Operations raise
domain errors (``server.errors``), which ``app.py`` turns into HTTP answers; they call
``orchestration/`` for run states and ``queries/`` for data, and every change they make is
stored with its event (``queries.outbox``). Nothing here speaks HTTP.
"""
