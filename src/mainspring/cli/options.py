"""Click options generated from :data:`mainspring.config.SETTINGS`, and their resolution.

Each option reads its ``MAINSPRING_*`` variable (named in ``--help``), but only values typed
on the command line are passed to :func:`~mainspring.config.load_settings` as flags: the
environment and ``mainspring.toml`` are read there, so every error names its real source.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click
from click.core import ParameterSource
from rich.console import Console

from .. import values
from ..config import SETTINGS, Settings, load_settings
from ..errors import MainspringError

__all__ = [
    "COMMON",
    "err",
    "out",
    "print_json",
    "resolve_settings",
    "setting_options",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The settings every command that touches a deployment takes.
COMMON = ("app_dir", "functions_dir", "db_url", "sqlite_synchronous")

_METAVARS = {
    "app_dir": "DIR",
    "functions_dir": "DIR",
    "db_url": "URL",
    "port": "PORT",
    "workers": "N",
    "log_level": "[debug|info|warning|error|critical]",
    "sqlite_synchronous": "[full|normal]",
    "max_request_body": "SIZE",
    "admin_key": "KEY",
    "scheduler": "[on|off]",
    "scheduler_concurrency": "N",
    "scheduler_lease": "DURATION",
    "scheduler_poll": "DURATION",
    "scheduled_retention": "DURATION",
    "site_url": "URL",
    "max_upload_size": "SIZE",
    "storage_dir": "DIR",
    "s3_endpoint": "URL",
}

_DEFAULTS_SHOWN = {
    "db_url": "<app>/.mainspring/db.sqlite3",
    "max_request_body": "8MiB",
    "scheduler_lease": "10s",
    "scheduler_poll": "5s",
    "scheduled_retention": "7d",
    "max_upload_size": "5GiB",
    "storage_dir": "<app>/.mainspring/storage",
}

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def setting_options(*names: str) -> Callable[[F], F]:
    """Add a ``--flag`` (reading ``MAINSPRING_<NAME>``) for each named setting."""

    def decorate(command: F) -> F:
        for name in reversed(names):
            setting = SETTINGS[name]
            shown = _DEFAULTS_SHOWN.get(name, setting.default)
            default = "" if shown is None else f"  [default: {shown}]"
            command = click.option(
                setting.flag,
                name,
                envvar=setting.envvar,
                show_envvar=True,
                metavar=_METAVARS.get(name, "TEXT"),
                default=None,
                help=setting.help + default,
            )(command)
        return command

    return decorate


def resolve_settings(params: dict[str, Any]) -> Settings:
    """Settings from this command's parameters: command-line values win, the rest is config."""
    ctx = click.get_current_context()
    flags = {
        name: value
        for name, value in params.items()
        if name in SETTINGS and ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE
    }
    return load_settings(flags)


def print_json(value: Any) -> None:
    """Print a Convex value as indented JSON (Convex's encoding for bytes and big ints)."""
    click.echo(json.dumps(values.to_json(value), indent=2, ensure_ascii=False))


class MainspringGroup(click.Group):
    """A click group that reports Mainspring errors as one clear line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MainspringError as exc:
            raise click.ClickException(str(exc)) from exc
