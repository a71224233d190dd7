"""The HTTP routers: one per resource (see each module).

Every schema model is built here, before any router module declares a route with one
(``flowyard.schemas.base.build_every_model``): clients defer that work, the server needs
every model anyway.
"""

from flowyard.schemas.base import build_every_model

build_every_model()
