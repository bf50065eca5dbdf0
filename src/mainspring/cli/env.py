"""``mainspring env set | get | list | remove``: the deployment's environment variables.

They are stored in the deployment's database (so every process sees them, no restart) and
read in functions as ``ctx.env["NAME"]``. In-process against the configured database by
default, or against a running deployment with ``--url`` and its admin key. Values are
printed only by ``get`` and ``list``; ``set`` never echoes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..env import check_name, check_value
from .options import out
from .run import call_system_function, deployment_options

__all__ = ["env", "parse_env_file"]


def parse_env_file(text: str, source: str) -> dict[str, str]:
    """``NAME=value`` lines (``#`` comments, optional ``export``, quotes around values)."""
    found: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        name, sep, value = line.partition("=")
        if not sep:
            raise click.BadParameter(f"{source}:{number}: expected NAME=value, got {raw!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        try:
            check_value(check_name(name.strip()), value)
        except Exception as exc:
            raise click.BadParameter(f"{source}:{number}: {exc}") from None
        found[name.strip()] = value
    return found


@click.group()
def env() -> None:
    """Deployment environment variables (read in functions as ctx.env["NAME"])."""


@env.command("set")
@click.argument("name", required=False)
@click.argument("value", required=False)
@click.option(
    "--from-file",
    "from_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Set every NAME=value line of a .env file, all or none.",
)
@deployment_options
def env_set(
    name: str | None, value: str | None, from_file: str | None, url: str | None, **params: Any
) -> None:
    """Set NAME to VALUE (or every variable of --from-file)."""
    if from_file:
        if name or value:
            raise click.UsageError("give NAME VALUE or --from-file, not both")
        variables = parse_env_file(Path(from_file).read_text(), from_file)
        count = call_system_function("_system/env:set_many", {"variables": variables}, url, params)
        out.print(f"Set {count} variables: {', '.join(sorted(variables))}")
        return
    if name is None or value is None:
        raise click.UsageError("usage: mainspring env set NAME VALUE (or --from-file FILE)")
    try:
        check_value(check_name(name), value)
    except Exception as exc:
        raise click.BadParameter(str(exc)) from None
    created = call_system_function("_system/env:set", {"name": name, "value": value}, url, params)
    out.print(f"{'Set' if created else 'Updated'} {name}")


@env.command("get")
@click.argument("name")
@deployment_options
def env_get(name: str, url: str | None, **params: Any) -> None:
    """Print the value of NAME (exit status 1 if it is not set)."""
    value = call_system_function("_system/env:get", {"name": name}, url, params)
    if value is None:
        click.echo(f"{name} is not set", err=True)
        raise SystemExit(1)
    click.echo(value)


@env.command("list")
@deployment_options
def env_list(url: str | None, **params: Any) -> None:
    """Print every variable as NAME=value."""
    for name, value in call_system_function("_system/env:list", {}, url, params).items():
        click.echo(f"{name}={value}")


@env.command("remove")
@click.argument("name")
@deployment_options
def env_remove(name: str, url: str | None, **params: Any) -> None:
    """Remove NAME."""
    removed = call_system_function("_system/env:remove", {"name": name}, url, params)
    out.print(f"Removed {name}" if removed else f"{name} was not set")
