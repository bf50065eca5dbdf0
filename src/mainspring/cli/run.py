"""``mainspring run PATH [ARGS]``: run one function as the admin and print its value.

In-process against the configured database by default, or over HTTP against a running
deployment with ``--url`` (and its admin key, for internal functions). The value goes to
stdout as JSON, the function's log lines to stderr; a failure exits with status 1.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.markup import escape

from .. import values
from ..client import Client
from ..config import Settings
from ..errors import AppError, FunctionNotFoundError, MainspringError, ValidationError
from ..logs import LogCollector, capture_logs
from ..server.asgi import build_runtime
from .options import COMMON, err, print_json, resolve_settings, setting_options

__all__ = ["call_system_function", "deployment_options", "parse_args", "run"]


def parse_args(text: str) -> dict[str, Any]:
    """The ARGS argument: a JSON object, in Convex's encoding (``{"$integer": …}`` etc.)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(
            f'{text!r} is not valid JSON ({exc}); pass an object such as \'{{"name": "Ada"}}\'',
            param_hint="ARGS",
        ) from None
    if not isinstance(data, dict):
        raise click.BadParameter(
            f'must be a JSON object such as \'{{"name": "Ada"}}\', not {type(data).__name__}',
            param_hint="ARGS",
        )
    try:
        decoded: dict[str, Any] = values.from_json(data, "args")
    except ValidationError as exc:
        raise click.BadParameter(str(exc), param_hint="ARGS") from None
    return decoded


async def _run_here(settings: Settings, path: str, args: dict[str, Any], logs: list[str]) -> Any:
    runtime = build_runtime(settings)
    await runtime.start()
    collector: LogCollector | None = None
    try:
        # Our collector outlives a failing call, so its log lines can still be shown.
        with capture_logs(path) as collector:
            return (await runtime.run(path, args, admin=True)).value
    finally:
        if collector is not None:
            logs.extend(collector.lines)
        await runtime.stop()


def _run_remote(
    url: str, admin_key: str | None, path: str, args: dict[str, Any], logs: list[str]
) -> Any:
    with Client(url, admin_key=admin_key, on_log_lines=logs.extend) as client:
        return client.function(path, args)


F = TypeVar("F", bound=Callable[..., Any])


def deployment_options(command: F) -> F:
    """The options of a command that acts on a deployment: local settings, or --url + key."""
    command = setting_options(*COMMON, "admin_key")(command)
    return click.option(
        "--url",
        envvar="MAINSPRING_URL",
        show_envvar=True,
        metavar="URL",
        help="Act on the deployment at URL (needs its admin key) instead of the local one.",
    )(command)


def call_system_function(
    path: str, args: dict[str, Any], url: str | None, params: dict[str, Any]
) -> Any:
    """Run ``path`` as the admin, in-process or on ``url``; exit 1 with a clear error."""
    logs: list[str] = []
    try:
        if url:
            return _run_remote(url, params.get("admin_key"), path, args, logs)
        return asyncio.run(_run_here(resolve_settings(params), path, args, logs))
    except Exception as exc:
        _fail(path, exc)


def _fail(path: str, exc: BaseException) -> None:
    if isinstance(exc, AppError):
        data = exc.data if isinstance(exc.data, str) else json.dumps(values.to_json(exc.data))
        err.print(f"[red]Error:[/] {escape(path)} raised AppError: {escape(data)}")
    elif isinstance(exc, MainspringError):
        err.print(f"[red]Error:[/] {escape(str(exc))}")
    else:
        err.print(f"[red]Error:[/] {escape(path)} failed with an uncaught exception:")
        err.print_exception(show_locals=False, suppress=[click, asyncio])
    raise SystemExit(1)


@click.command()
@click.argument("path")
@click.argument("args", default="{}", required=False)
@setting_options(*COMMON, "admin_key")
@click.option(
    "--url",
    envvar="MAINSPRING_URL",
    show_envvar=True,
    metavar="URL",
    help="Run on the deployment at URL over HTTP instead of in-process.",
)
def run(path: str, args: str, url: str | None, **params: Any) -> None:
    """Run the function at PATH (module:function) with ARGS (a JSON object).

    Internal functions are allowed: the CLI is the admin. With --url, internal functions
    need the deployment's admin key (--admin-key or MAINSPRING_ADMIN_KEY).

    \b
    mainspring run notes:add '{"author": "...", "body": "hello"}'
    mainspring run notes:count --url http://127.0.0.1:3210 --admin-key ms_admin_...
    """
    decoded = parse_args(args)
    logs: list[str] = []
    try:
        if url:
            value = _run_remote(url, params.get("admin_key"), path, decoded, logs)
        else:
            value = asyncio.run(_run_here(resolve_settings(params), path, decoded, logs))
    except Exception as exc:
        for line in logs:
            click.echo(line, err=True)
        if url and not params.get("admin_key") and isinstance(exc, FunctionNotFoundError):
            err.print("[dim]Internal functions need the admin key: --admin-key KEY[/]")
        _fail(path, exc)
        return
    for line in logs:
        click.echo(line, err=True)
    print_json(value)
