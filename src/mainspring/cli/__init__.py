"""The ``mainspring`` command.

::

    mainspring init my-app            scaffold an app
    mainspring dev                    serve it, reloading when a function file changes
    mainspring serve --workers 4      serve it in production
    mainspring run notes:add '{"body": "hi"}'
    mainspring data notes --limit 5
    mainspring admin-key
    mainspring env set LARK_TOKEN xyz
    mainspring worker                 run scheduled functions (no HTTP)
    mainspring scheduled ls --state failed
    mainspring jobs ls --pool emails   work pool items (also: jobs pools|cancel|retry|parallelism)
    mainspring crons ls               crons: schedule, next run, latest runs
    mainspring storage gc --delete    remove orphan files (also: storage ls|upload|download|rm)
    mainspring codegen                TypeScript types of the functions for a front end

Every option also reads a ``MAINSPRING_*`` environment variable (``--help`` names it); the
settings come from flags, then the environment, then ``mainspring.toml``, then defaults.
"""

from __future__ import annotations

import click

from .. import __version__
from .codegen import codegen
from .crons import crons
from .data import admin_key, data
from .env import env
from .init import init
from .jobs import jobs
from .options import MainspringGroup
from .run import run
from .scheduled import scheduled
from .serve import dev, serve
from .storage import storage
from .worker import worker

__all__ = ["cli", "main"]


@click.group(cls=MainspringGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mainspring")
def cli() -> None:
    """Mainspring: queries, mutations and actions over a transactional document database."""


for _command in (init, dev, serve, run, data, admin_key, env, worker, scheduled, crons, storage):
    cli.add_command(_command)
cli.add_command(jobs)
cli.add_command(codegen)


def main() -> None:
    """Entry point of the ``mainspring`` console script."""
    cli(prog_name="mainspring")
