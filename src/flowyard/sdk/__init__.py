"""The SDK: authoring (``@flow``, ``@task``) and local execution of runs.

Imports ``flowyard.client`` and ``flowyard.schemas`` only, never ``flowyard.server``.
The public names are re-exported by :mod:`flowyard`.
"""
