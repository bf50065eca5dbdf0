"""``mainspring storage ls | upload | download | rm | gc``: the deployment's stored files.

``ls``, ``upload``, ``download`` and ``rm`` work in-process against the configured database
and blob store by default, or against a running deployment with ``--url`` and its admin key
(upload: an upload URL from ``_system/storage:create_upload``, then an HTTP POST streamed
from the file; download: a serving URL, then a streamed GET). Large files show a progress
bar. ``gc`` runs in-process (it reads the blob store directly); see
:mod:`mainspring.storage.gc` for what counts as referenced.
"""

from __future__ import annotations

import asyncio
import mimetypes
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import click
import httpx
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Column, Table

from ..config import _duration
from ..runtime import Runtime
from ..server.asgi import build_runtime
from ..storage.base import CHUNK
from ..storage.files import blob_key, check_storage_id
from ..storage.gc import GcReport, collect_garbage
from .options import COMMON, err, out, resolve_settings, setting_options
from .run import _fail, _run_remote

__all__ = ["storage"]

F = TypeVar("F", bound=Callable[..., Any])

#: Files at least this big get a progress bar.
PROGRESS_MIN_BYTES = 8 << 20
_STORE_SETTINGS = ("storage_dir", "s3_bucket", "s3_endpoint", "s3_region", "site_url")


def _options(command: F) -> F:
    command = setting_options(*COMMON, "admin_key", *_STORE_SETTINGS)(command)
    return click.option(
        "--url",
        envvar="MAINSPRING_URL",
        show_envvar=True,
        metavar="URL",
        help="Act on the deployment at URL (needs its admin key) instead of the local one.",
    )(command)


def _progress(total: int | None, description: str) -> Progress:
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=total is None or total < PROGRESS_MIN_BYTES,
        transient=False,
    )
    progress.add_task(description, total=total)
    return progress


def _advance(progress: Progress, amount: int) -> None:
    progress.advance(progress.task_ids[0], amount)


async def _with_runtime(params: dict[str, Any], work: Callable[[Runtime], Any]) -> Any:
    runtime = build_runtime(resolve_settings(params))
    await runtime.start()
    try:
        return await work(runtime)
    finally:
        await runtime.stop()


def _check_id(storage_id: str) -> str:
    try:
        return check_storage_id(storage_id)
    except Exception as exc:
        raise click.BadParameter(str(exc), param_hint="ID") from None


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover


def _age(ms: float) -> str:
    hours = ms / 3_600_000
    return f"{hours / 24:.1f} d" if hours >= 48 else f"{hours:.1f} h"


@click.group()
def storage() -> None:
    """Stored files: list, upload, download, delete, and garbage-collect orphans."""


# -- ls ------------------------------------------------------------------------------------------


@storage.command("ls")
@click.option("--limit", default=1000, show_default=True, help="Show at most this many files.")
@_options
def storage_ls(limit: int, url: str | None, **params: Any) -> None:
    """List stored files (id, size, content type, creation time)."""

    async def here(runtime: Runtime) -> Any:
        return await runtime.call("_system/storage:list_files", {"limit": limit})

    path = "_system/storage:list_files"
    try:
        if url:
            files = _run_remote(url, params.get("admin_key"), path, {"limit": limit}, [])
        else:
            files = asyncio.run(_with_runtime(params, here))
    except Exception as exc:
        _fail(path, exc)
        return
    storage_id = Column("storage id", no_wrap=True, min_width=28)
    table = Table(
        storage_id,
        Column("size", justify="right", no_wrap=True),
        Column("content type", no_wrap=True),
        Column("created (UTC)", no_wrap=True),
    )
    for row in files:
        created = datetime.fromtimestamp(row["_creationTime"] / 1000, UTC)
        table.add_row(
            row["storageId"],
            _size(int(row["size"])),
            row.get("contentType") or "",
            created.strftime("%Y-%m-%d %H:%M"),
        )
    out.print(table)
    total = _size(sum(int(r["size"]) for r in files))
    out.print(f"{len(files)} file{'' if len(files) == 1 else 's'}, {total}")


# -- upload --------------------------------------------------------------------------------------


async def _file_chunks(handle: BinaryIO, progress: Progress) -> AsyncIterator[bytes]:
    while chunk := handle.read(CHUNK):
        _advance(progress, len(chunk))
        yield chunk


def _sync_file_chunks(handle: BinaryIO, progress: Progress) -> Iterator[bytes]:
    while chunk := handle.read(CHUNK):
        _advance(progress, len(chunk))
        yield chunk


@storage.command("upload")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--content-type", help="The file's type (default: guessed from its name).")
@_options
def storage_upload(file: Path, content_type: str | None, url: str | None, **params: Any) -> None:
    """Store FILE and print its storage id."""
    content_type = content_type or mimetypes.guess_type(file.name)[0]
    size = file.stat().st_size

    async def here(runtime: Runtime) -> str:
        with file.open("rb") as handle, _progress(size, f"upload {file.name}") as progress:
            return await runtime.storage.store(
                _file_chunks(handle, progress), content_type=content_type
            )

    try:
        if url:
            upload_url = _run_remote(
                url, params.get("admin_key"), "_system/storage:create_upload", {}, []
            )
            headers = {"Content-Length": str(size)}
            if content_type:
                headers["Content-Type"] = content_type
            with file.open("rb") as handle, _progress(size, f"upload {file.name}") as progress:
                response = httpx.post(
                    upload_url,
                    content=_sync_file_chunks(handle, progress),
                    headers=headers,
                    timeout=httpx.Timeout(60.0),
                )
            if response.status_code != 200:
                raise click.ClickException(
                    f"the upload was refused ({response.status_code}): {response.text.strip()}"
                )
            storage_id = str(response.json()["storageId"])
        else:
            storage_id = asyncio.run(_with_runtime(params, here))
    except click.ClickException:
        raise
    except Exception as exc:
        _fail("storage upload", exc)
        return
    click.echo(storage_id)


# -- download ------------------------------------------------------------------------------------


@storage.command("download")
@click.argument("storage_id", metavar="ID")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (default: ./ID).",
)
@_options
def storage_download(storage_id: str, output: Path | None, url: str | None, **params: Any) -> None:
    """Write the file ID to --output (or ./ID); ``-o -`` writes to stdout."""
    _check_id(storage_id)
    target = output or Path(storage_id)
    to_stdout = str(target) == "-"

    def sink() -> BinaryIO:
        if to_stdout:
            return sys.stdout.buffer
        return open(target, "wb")

    async def here(runtime: Runtime) -> bool:
        metadata = await runtime.storage.metadata(storage_id)
        if metadata is None:
            return False
        size = int(metadata["size"])
        handle = sink()
        try:
            with _progress(size, f"download {storage_id[:12]}") as progress:
                async for chunk in runtime.storage.blob_store.get(blob_key(storage_id)):
                    handle.write(chunk)
                    _advance(progress, len(chunk))
        finally:
            if not to_stdout:
                handle.close()
        return True

    try:
        if url:
            file_url = _run_remote(
                url,
                params.get("admin_key"),
                "_system/storage:file_url",
                {"storage_id": storage_id},
                [],
            )
            found = file_url is not None
            if found:
                with httpx.stream("GET", file_url, timeout=httpx.Timeout(60.0)) as response:
                    if response.status_code != 200:
                        raise click.ClickException(f"the download failed ({response.status_code})")
                    length = response.headers.get("Content-Length")
                    total = int(length) if length and length.isdigit() else None
                    handle = sink()
                    try:
                        with _progress(total, f"download {storage_id[:12]}") as progress:
                            for chunk in response.iter_bytes(CHUNK):
                                handle.write(chunk)
                                _advance(progress, len(chunk))
                    finally:
                        if not to_stdout:
                            handle.close()
        else:
            found = asyncio.run(_with_runtime(params, here))
    except click.ClickException:
        raise
    except Exception as exc:
        _fail("storage download", exc)
        return
    if not found:
        err.print(f"[red]Error:[/] no stored file {escape(storage_id)}")
        raise SystemExit(1)
    if not to_stdout:
        err.print(f"Wrote {escape(str(target))}")


# -- rm ------------------------------------------------------------------------------------------


@storage.command("rm")
@click.argument("storage_id", metavar="ID")
@_options
def storage_rm(storage_id: str, url: str | None, **params: Any) -> None:
    """Delete the file ID (its row, then its blob)."""
    _check_id(storage_id)
    path = "_system/storage:delete"

    async def here(runtime: Runtime) -> None:
        await runtime.call(path, {"storage_id": storage_id})

    try:
        if url:
            _run_remote(url, params.get("admin_key"), path, {"storage_id": storage_id}, [])
        else:
            asyncio.run(_with_runtime(params, here))
    except Exception as exc:
        _fail(path, exc)
        return
    out.print(f"Deleted {storage_id}")


# -- gc ------------------------------------------------------------------------------------------


def _print_report(report: GcReport, delete: bool) -> None:
    table = Table("kind", Column("key", no_wrap=True, min_width=28), "size", "age")
    for item in sorted(report.items, key=lambda i: (i.kind, -i.age_ms)):
        table.add_row(item.kind, item.key, _size(item.size), _age(item.age_ms))
    if report.items:
        out.print(table)
    totals = report.totals()
    for kind, (count, size) in totals.items():
        out.print(f"{kind:>13}: {count} ({_size(size)})")
    count = sum(c for c, _ in totals.values())
    size = sum(s for _, s in totals.values())
    if delete:
        out.print(f"Deleted {report.deleted} of {count} ({_size(size)} found)")
        if report.kept:
            out.print(f"Kept {len(report.kept)} that gained a reference or a row meanwhile")
    elif count:
        out.print(f"{count} items, {_size(size)}: run with --delete to remove them")
    else:
        out.print("Nothing to collect")


@storage.command("gc")
@click.option(
    "--grace",
    default="24h",
    show_default=True,
    metavar="DURATION",
    help="Only collect what is older than this (e.g. 30m, 12h, 7d).",
)
@click.option("--delete", is_flag=True, help="Delete what is found (default: only report).")
@setting_options(*COMMON, *_STORE_SETTINGS)
def storage_gc(grace: str, delete: bool, **params: Any) -> None:
    """Find (and with --delete remove) storage garbage.

    \b
    Reported, when older than --grace:
      orphan-blob   blobs with no _storage row
      incomplete    leftovers of uploads that never finished (temp files, multipart uploads)
      unreferenced  stored files no document references (through the schema's StorageId
                    fields; in schema-less tables any string that is a storage id counts)
    """
    try:
        grace_ms = _duration(0.0)(grace)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--grace") from None

    async def here(runtime: Runtime) -> GcReport:
        return await collect_garbage(runtime, grace_ms=grace_ms, delete=delete)

    try:
        report = asyncio.run(_with_runtime(params, here))
    except Exception as exc:
        _fail("storage gc", exc)
        return
    _print_report(report, delete)
