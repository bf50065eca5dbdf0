"""The HTTP server: Convex's functions API over a :class:`~mainspring.runtime.Runtime`.

::

    app = create_app(Runtime(load_app("backend"), open_database(".mainspring/db.sqlite3")))
    uvicorn.run(app, port=3210)
"""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
