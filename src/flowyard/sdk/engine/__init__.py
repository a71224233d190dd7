"""The run engine: the only code that calls user functions.

``task_engine`` orchestrates task runs in process; ``flow_engine`` orchestrates flow runs
through the API; ``api`` is the engine's narrow view of the client.
"""
