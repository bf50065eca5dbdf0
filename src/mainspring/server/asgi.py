"""The ASGI entry point uvicorn imports: ``mainspring.server.asgi:app_from_env``.

``mainspring dev`` and ``mainspring serve`` resolve their settings, export them as
``MAINSPRING_*`` variables and hand uvicorn this factory by import string, so every worker
process (and every reload of ``dev``) builds its own runtime from the same settings::

    uvicorn --factory mainspring.server.asgi:app_from_env

Under ``dev`` (``MAINSPRING_DEV=1``) an app that fails to import does not kill the server:
every request is answered 503 with the error until the next save reloads it.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..codegen import DEFAULT_OUT, OUT_ENV, generate, write_files
from ..config import Settings, load_settings
from ..deployment import Deployment
from ..errors import MainspringError
from ..registry import LoadedApp, load_app
from ..runtime import Runtime
from .app import create_app

__all__ = [
    "DEV_ENV",
    "app_from_env",
    "build_runtime",
    "configure_logging",
    "describe_load_error",
    "refresh_codegen",
]

#: Set to "1" by ``mainspring dev``.
DEV_ENV = "MAINSPRING_DEV"
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
log = logging.getLogger("mainspring.server")


def configure_logging(level: str) -> None:
    """Send Mainspring's own log records to stderr at ``level`` (idempotent)."""
    logger = logging.getLogger("mainspring")
    logger.setLevel(level.upper())
    if not any(getattr(h, "_mainspring", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT, "%H:%M:%S"))
        handler._mainspring = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False


def build_runtime(settings: Settings, app: LoadedApp | None = None) -> Runtime:
    """The runtime of the deployment ``settings`` describe, with no background work (the
    CLI's in-process commands): see :class:`~mainspring.deployment.Deployment`."""
    return Deployment.from_settings(settings, app, background=False).runtime


def refresh_codegen(app: LoadedApp, functions_dir: Path) -> None:
    """Under ``dev``: rewrite the front end's generated files, as ``mainspring codegen`` does,
    where the app has them (``<functions>/_generated`` exists, or ``MAINSPRING_CODEGEN_OUT``
    names a folder). A failure is logged; the server runs on."""
    named = os.environ.get(OUT_ENV)
    target = Path(named).resolve() if named else functions_dir / DEFAULT_OUT
    if not named and not target.is_dir():
        return
    try:
        changed = write_files(target, generate(app).files)
    except Exception:
        log.exception("could not write the generated files into %s", target)
        return
    if any(changed.values()):
        log.info("wrote the generated files into %s", target)


def describe_load_error(exc: BaseException, functions_dir: Path) -> str:
    """An import failure of the user's code: the message and only the user's own frames."""
    if isinstance(exc, MainspringError):
        return f"{type(exc).__name__}: {exc}"
    info = traceback.TracebackException.from_exception(exc)
    root = str(functions_dir)
    info.stack = traceback.StackSummary.from_list(
        [frame for frame in info.stack if frame.filename.startswith(root)]
    )
    return "".join(info.format()).rstrip()


def _broken_app(message: str) -> Starlette:
    body = {"code": "AppLoadFailed", "message": f"the app failed to load:\n{message}"}

    async def refuse(request: Request) -> JSONResponse:
        return JSONResponse(body, status_code=503)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return Starlette(routes=[Route("/{path:path}", refuse, methods=methods)])


def app_from_env() -> Starlette:
    """Build the Starlette app from the ``MAINSPRING_*`` environment (a uvicorn factory)."""
    settings = load_settings(env=os.environ)
    configure_logging(settings.log_level)
    dev = os.environ.get(DEV_ENV) == "1"
    try:
        app = load_app(settings.check_functions_dir())
        if dev:
            refresh_codegen(app, settings.functions_dir)
        background = settings.scheduler == "on"  # scheduled functions, work pools, crons
        deployment = Deployment.from_settings(settings, app, background=background)
    except Exception as exc:
        if not dev:
            raise
        message = describe_load_error(exc, settings.functions_dir)
        log.error("the app failed to load; fix it and save to reload:\n%s", message)
        return _broken_app(message)
    return create_app(deployment.runtime, max_body_bytes=settings.max_request_body)
