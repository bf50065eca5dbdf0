"""Servers the HTTP benchmark starts in subprocesses: a Mainspring app and a bare Starlette app.

Run as ``python _servers.py mainspring APP_DIR DB_URL PORT``, ``python _servers.py bare PORT``
or ``python _servers.py bare-insert DB_URL PORT``.
"""

from __future__ import annotations

import sys

import uvicorn


def bare(port: int) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def endpoint(request: Request) -> JSONResponse:
        await request.body()  # read the body as the real endpoint must
        return JSONResponse({"status": "success", "value": {"ok": True}, "logLines": []})

    app = Starlette(routes=[Route("/api/query", endpoint, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def bare_insert(db_url: str, port: int) -> None:
    """The thinnest Python server committing pgbench's transaction: a bare Starlette endpoint
    that runs pgbench's one INSERT on a pooled psycopg connection (autocommit, prepared)."""
    import contextlib
    from collections.abc import AsyncIterator

    from psycopg_pool import AsyncConnectionPool
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    pool = AsyncConnectionPool(db_url, kwargs={"autocommit": True}, max_size=10, open=False)
    insert = "INSERT INTO bench_items (value) VALUES (%s)"

    async def endpoint(request: Request) -> JSONResponse:
        await request.body()
        async with pool.connection() as conn:
            await conn.execute(insert, ['{"n":1,"s":"hello"}'], prepare=True)
        return JSONResponse({"status": "success", "value": None, "logLines": []})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await pool.open()
        yield
        await pool.close()

    app = Starlette(routes=[Route("/api/mutation", endpoint, methods=["POST"])], lifespan=lifespan)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def mainspring_app(app_dir: str, db_url: str, port: int) -> None:
    from mainspring.db import open_database
    from mainspring.registry import load_app
    from mainspring.runtime import Runtime
    from mainspring.server import create_app

    runtime = Runtime(load_app(app_dir), open_database(db_url))
    uvicorn.run(
        create_app(runtime), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )


if __name__ == "__main__":
    if sys.argv[1] == "bare":
        bare(int(sys.argv[2]))
    elif sys.argv[1] == "bare-insert":
        bare_insert(sys.argv[2], int(sys.argv[3]))
    else:
        mainspring_app(sys.argv[2], sys.argv[3], int(sys.argv[4]))
