"""HTTP routes for the test app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from mainspring import ActionCtx, Cors, HttpRouter, api, http_action

http = HttpRouter(cors=Cors(origins=["https://app.example"]))


@http_action
async def hello(ctx: ActionCtx, request: Request) -> Response:
    identity = await ctx.run_query(api.whoami.identity)
    return JSONResponse({"identity": identity, "query": dict(request.query_params)})


@http_action
async def echo(ctx: ActionCtx, request: Request) -> Response:
    body: Any = await request.json()
    return JSONResponse({"echo": body}, status_code=201)


@http_action
async def files(ctx: ActionCtx, request: Request) -> Response:
    return Response(f"file {request.url.path}", media_type="text/plain")


@http_action
async def stream(ctx: ActionCtx, request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"chunk {i}\n".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


@http_action
async def broken(ctx: ActionCtx, request: Request) -> Response:
    raise RuntimeError("secret internals")


http.route("/hello", "GET", hello)
http.route("/echo", "POST", echo)
http.route_prefix("/files/", "GET", files)
http.route("/stream", "GET", stream)
http.route("/broken", "GET", broken)
