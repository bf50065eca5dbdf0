"""``mainspring jobs ls | pools | cancel | retry | parallelism``: the work pools' items.

In-process against the configured database by default, or against a running deployment with
``--url`` and its admin key, through the built-in ``_system/workpool:*`` functions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from ..workpool.items import STATUSES
from .options import out, print_json
from .run import call_system_function, deployment_options

__all__ = ["jobs"]

_STYLES = {"pending": "cyan", "running": "yellow", "success": "green", "failed": "red"}


def _time(ms: Any) -> str:
    if not isinstance(ms, (int, float)):
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _state(row: dict[str, Any]) -> str:
    if row["status"] != "finished":
        shown = f"[{_STYLES[row['status']]}]{row['status']}[/]"
        if row.get("attempts"):
            shown += f" (failed {row['attempts']}x: {escape(str(row.get('lastError', '')))})"
        return shown
    result = row.get("result", {})
    kind = str(result.get("kind", "?"))
    shown = f"[{_STYLES.get(kind, 'dim')}]{kind}[/]"
    if kind == "failed":
        shown += f": {escape(str(result.get('error', '')))}"
    return shown


@click.group()
def jobs() -> None:
    """Background work in the work pools (Workpool.enqueue_action / enqueue_mutation)."""


@jobs.command("ls")
@click.option(
    "--pool", metavar="NAME", envvar="MAINSPRING_JOBS_POOL", show_envvar=True,
    help="Only this pool.",
)  # fmt: skip
@click.option(
    "--status", type=click.Choice(STATUSES), envvar="MAINSPRING_JOBS_STATUS", show_envvar=True,
    help="Only items in this status.",
)  # fmt: skip
@click.option(
    "--limit", type=click.IntRange(1, 1000), default=50, show_default=True,
    envvar="MAINSPRING_JOBS_LIMIT", show_envvar=True, help="How many items to show.",
)  # fmt: skip
@click.option(
    "--json", "as_json", is_flag=True, envvar="MAINSPRING_JOBS_JSON", show_envvar=True,
    help="Print JSON instead of a table.",
)  # fmt: skip
@deployment_options
def jobs_ls(
    pool: str | None,
    status: str | None,
    limit: int,
    as_json: bool,
    url: str | None,
    **params: Any,
) -> None:
    """List work items, newest first."""
    args: dict[str, Any] = {"limit": limit}
    if pool:
        args["pool"] = pool
    if status:
        args["status"] = status
    rows = call_system_function("_system/workpool:list", args, url, params)
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("no work items" + (" match" if pool or status else ""))
        return
    table = Table(header_style="bold", title="times in UTC")
    for column in ("id", "pool", "function", "state", "run at", "completed"):
        table.add_column(column, overflow="fold", no_wrap=column in ("id", "run at"))
    for row in rows:
        table.add_row(
            row["_id"],
            escape(row["pool"]),
            escape(row["name"]),
            _state(row),
            _time(row["runAt"]),
            _time(row.get("completedTime")),
        )
    out.print(table)


@jobs.command("pools")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@deployment_options
def jobs_pools(as_json: bool, url: str | None, **params: Any) -> None:
    """List the work pools: cap, declared cap, pending and running items."""
    rows = call_system_function("_system/workpool:pools", {}, url, params)
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("no work pools yet (a pool appears when it is first used or declared)")
        return
    table = Table(header_style="bold")
    for column in ("pool", "parallelism", "declared", "pending", "running"):
        table.add_column(column, justify="left" if column == "pool" else "right")
    for row in rows:
        cap = str(row["maxParallelism"]) + (" (paused)" if row["maxParallelism"] == 0 else "")
        table.add_row(
            escape(row["name"]), cap, str(row["declared"]), str(row["pending"]), str(row["running"])
        )
    out.print(table)


@jobs.command("cancel")
@click.argument("work_id", metavar="ID")
@deployment_options
def jobs_cancel(work_id: str, url: str | None, **params: Any) -> None:
    """Cancel work item ID (pending: never runs; running: not retried, finishes canceled).
    Its on_complete runs with a canceled result."""
    before = call_system_function("_system/workpool:cancel", {"id": work_id}, url, params)
    if before in ("pending", "running"):
        out.print(f"Canceled {work_id} (it was {before})")
    else:
        out.print(f"{work_id} had already finished: nothing to cancel")


@jobs.command("retry")
@click.argument("work_id", metavar="ID")
@deployment_options
def jobs_retry(work_id: str, url: str | None, **params: Any) -> None:
    """Run a failed or canceled work item ID again, as a new item (printed) due now."""
    new_id = call_system_function("_system/workpool:retry", {"id": work_id}, url, params)
    out.print(f"Enqueued {new_id} (a retry of {work_id})")


@jobs.command("parallelism")
@click.argument("pool", metavar="POOL")
@click.argument("max_parallelism", metavar="N", type=click.IntRange(0, 10_000))
@deployment_options
def jobs_parallelism(pool: str, max_parallelism: int, url: str | None, **params: Any) -> None:
    """Set POOL's cap to N across every process (0 pauses it). It holds until the cap
    declared in code changes."""
    args = {"pool": pool, "max_parallelism": max_parallelism}
    before = call_system_function("_system/workpool:set_parallelism", args, url, params)
    state = "paused" if max_parallelism == 0 else f"at most {max_parallelism} at once"
    out.print(f"Pool {pool}: {state} (was {before})")
