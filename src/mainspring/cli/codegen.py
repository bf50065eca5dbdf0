"""``mainspring codegen``: write the front end's ``api.js`` and its TypeScript types.

The front end imports ``api`` from the output folder as a Convex app imports it from
``convex/_generated``: ``import { api } from "../backend/_generated/api"``. Only files whose
text changed are written, so running this on every save does not make Vite reload.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from ..codegen import DEFAULT_OUT, OUT_ENV, generate, write_files
from ..registry import load_app
from ..server.asgi import describe_load_error
from .options import err, out, resolve_settings, setting_options

__all__ = ["codegen"]


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@click.command()
@setting_options("app_dir", "functions_dir")
@click.option(
    "--out",
    "out_dir",
    envvar=OUT_ENV,
    show_envvar=True,
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"Write the files into DIR (relative to the current folder).  "
    f"[default: <functions folder>/{DEFAULT_OUT}]",
)
def codegen(out_dir: Path | None, **params: Any) -> None:
    """Write api.js, api.d.ts and dataModel.d.ts for a TypeScript front end.

    The types come from the functions' Python type hints and the schema: each function is a
    FunctionReference with its arguments and return type, declared under its Python name
    (files.save_file, taking storage_id) and its camelCase alias (files.saveFile, taking
    storageId), both of which the server accepts. Hints with no JSON shape are typed as
    `any`, with a warning.

    \b
    mainspring codegen                          writes backend/_generated/
    mainspring codegen --out ../web/src/convex  next to the front end's code

    Once the folder exists, `mainspring dev` rewrites it at every reload (and always
    when MAINSPRING_CODEGEN_OUT is set).
    """
    settings = resolve_settings(params)
    functions_dir = settings.check_functions_dir()
    try:
        app = load_app(functions_dir)
    except Exception as exc:
        raise click.ClickException(
            f"the app failed to load:\n{describe_load_error(exc, functions_dir)}"
        ) from exc
    generated = generate(app)
    target = out_dir.resolve() if out_dir is not None else functions_dir / DEFAULT_OUT
    for warning in generated.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}")
    changed = write_files(target, generated.files)
    for name, was_changed in changed.items():
        status = "wrote    " if was_changed else "unchanged"
        out.print(f"{status} {escape(_shown(target / name))}")
