"""``mainspring dev`` and ``mainspring serve``: hand the app to uvicorn.

Both resolve the settings here, check the app and the database once (a clear error beats a
traceback from a worker), export the settings as ``MAINSPRING_*`` variables and give uvicorn
the import string of :func:`mainspring.server.asgi.app_from_env`, which every worker process
and every ``dev`` reload calls to build its own runtime.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import uvicorn

from ..config import Settings
from ..registry import FunctionRegistry, LoadedApp, load_app
from ..runtime import Runtime
from ..server.asgi import DEV_ENV, describe_load_error
from .options import COMMON, err, resolve_settings, setting_options
from .worker import SCHEDULER_SETTINGS

__all__ = ["dev", "serve"]

FACTORY = "mainspring.server.asgi:app_from_env"
_SERVER = (
    "host",
    "port",
    "log_level",
    "max_request_body",
    "admin_key",
    "site_url",
    "max_upload_size",
    "storage_dir",
    "s3_bucket",
    "s3_endpoint",
    "s3_region",
)


@dataclass
class Preflight:
    """What checking the app and the database found."""

    functions: int = 0
    problem: str | None = None  # the app failed to load (dev serves on and reloads)


async def _check(settings: Settings) -> Preflight:
    result = Preflight()
    try:
        app = load_app(settings.check_functions_dir())
        result.functions = len(app.registry)
    except Exception as exc:
        result.problem = describe_load_error(exc, settings.functions_dir)
        app = LoadedApp(None, FunctionRegistry())
    runtime = Runtime(app, settings.open_database(), admin_key=settings.admin_key)
    await runtime.start()  # creates the database layout and the admin key on first use
    await runtime.stop()
    return result


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd())) or "."
    except ValueError:
        return str(path)


def _banner(settings: Settings, found: Preflight, *, dev: bool) -> None:
    app = _shown(settings.app_dir)
    functions = _shown(settings.functions_dir)
    title = "dev server" if dev else f"server ({settings.workers} worker(s))"
    err.print(f"[bold]Mainspring {title}[/]")
    err.print(f"  App        {app}  ({functions}/, {found.functions} functions)")
    err.print(f"  Database   {settings.describe_db()}")
    err.print(f"  URL        [bold cyan]{settings.url}[/]")
    hint = "mainspring admin-key" + ("" if app == "." else f" --app {app}")
    err.print(f"  Admin key  [dim]run[/] {hint}")
    if dev:
        err.print(f"  Watching   {functions}/ (the server reloads when a .py file changes)")


def _hand_over(settings: Settings, *, dev: bool, **options: Any) -> None:
    os.environ.update(settings.environ())
    os.environ[DEV_ENV] = "1" if dev else "0"
    uvicorn.run(
        FACTORY,
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        **options,
    )


@click.command()
@setting_options(*COMMON, *_SERVER, "scheduler", *SCHEDULER_SETTINGS)
def dev(**params: Any) -> None:
    """Serve the app for development, reloading when a function file changes."""
    settings = resolve_settings(params)
    settings.check_functions_dir()
    found = asyncio.run(_check(settings))
    _banner(settings, found, dev=True)
    if found.problem:
        err.print(f"[red]The app failed to load:[/]\n{found.problem}")
        err.print("[yellow]Fix it and save: the server reloads.[/]")
    _hand_over(
        settings,
        dev=True,
        reload=True,
        reload_dirs=[str(settings.functions_dir)],
        reload_includes=["*.py"],
        reload_excludes=[".*", "__pycache__"],
    )


@click.command()
@setting_options(*COMMON, *_SERVER, "workers", "scheduler", *SCHEDULER_SETTINGS)
def serve(**params: Any) -> None:
    """Serve the app in production (no reload; --workers processes share the port)."""
    settings = resolve_settings(params)
    found = asyncio.run(_check(settings))
    if found.problem:
        raise click.ClickException(f"the app failed to load:\n{found.problem}")
    _banner(settings, found, dev=False)
    _hand_over(settings, dev=False, workers=settings.workers, timeout_graceful_shutdown=30)
