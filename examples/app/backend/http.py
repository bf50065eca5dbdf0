"""HTTP routes of the example app (served under ``/http``).

``GET /http/private-files/<file id>`` streams a file to its owner only: the caller sends
``Authorization: Bearer <token>``; anyone else gets 401 (no token) or 403 (not theirs).
Unlike ``get_url``'s signed URLs, which work for whoever holds them, this checks identity on
every request.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from mainspring import ActionCtx, Cors, HttpRouter, ValidationError, api, http_action
from mainspring.storage.media import content_disposition, disposition_for, parse_media_type

http = HttpRouter(cors=Cors(origins=["*"]))

PRIVATE_PREFIX = "/private-files/"


def _refuse(status: int, code: str, message: str) -> Response:
    return JSONResponse({"code": code, "message": message}, status_code=status)


@http_action
async def private_file(ctx: ActionCtx, request: Request) -> Response:
    """The bytes of one of the caller's files."""
    identity = await ctx.auth.get_user_identity()
    if identity is None:
        return _refuse(401, "Unauthenticated", "send Authorization: Bearer <token>")
    file_id = request.url.path.rsplit("/", 1)[-1]
    try:
        file = await ctx.run_query(api.files.get, {"id": file_id})
    except ValidationError:
        file = None
    if file is None:
        return _refuse(404, "NotFound", f"no file {file_id}")
    if file["uploaded_by"] != identity.subject:
        return _refuse(403, "Forbidden", "this file belongs to someone else")
    stored = await ctx.storage.get(file["storage_id"])
    if stored is None:
        return _refuse(404, "NotFound", f"the bytes of {file_id} are gone")
    media_type = parse_media_type(stored.content_type)
    headers = {
        "content-length": str(stored.size),
        "content-disposition": content_disposition(disposition_for(media_type), file["name"]),
        "x-content-type-options": "nosniff",
        "cache-control": "private, no-store",
        "etag": f'"{stored.sha256}"',
    }
    return StreamingResponse(
        stored.stream(),
        media_type=stored.content_type or "application/octet-stream",
        headers=headers,
    )


http.route_prefix(PRIVATE_PREFIX, "GET", private_file)
