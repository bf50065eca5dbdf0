"""``runtime.workpools``: pool rows and wake-ups.

Pool rows are created on first use (the first enqueue in any process) and reconciled with
the app's declarations when a dispatcher starts: a pool whose declared ``max_parallelism``
changed in code takes the new value; otherwise a value an operator set at run time stays.
Enqueueing transactions announce the earliest ``runAt`` they added — to this process's
dispatchers at once after the commit, to other processes' through the database's
notifications (``LISTEN/NOTIFY`` on PostgreSQL).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from ..db.store import DocumentReader, DocumentWriter
from ..kernel import Kernel
from ..lease.wakeups import WakeUps
from .items import NOTIFY_CHANNEL, POOL_INDEX, POOLS, pool_key_range


class Declared(Protocol):
    """A pool as the app declares it (a :class:`~.pool.Workpool`)."""

    @property
    def name(self) -> str: ...

    @property
    def max_parallelism(self) -> int: ...


__all__ = ["PoolsKernel", "WorkpoolHub", "find_pool", "pool_names"]

log = logging.getLogger("mainspring.workpool")


async def find_pool(reader: DocumentReader, name: str) -> dict[str, Any] | None:
    """The ``_workpools`` row named ``name``, if any."""
    system = reader.system
    index = await system.index_for(POOLS, POOL_INDEX)
    if index is None:
        return None
    lo, hi = pool_key_range(name)
    rows = await system.scan(index, lo, hi, False, 1)
    return rows[0][1] if rows else None


async def pool_names(reader: DocumentReader) -> list[str]:
    """Every pool with a row, in name order."""
    system = reader.system
    index = await system.index_for(POOLS, POOL_INDEX)
    if index is None:
        return []
    return [str(row["name"]) for _, row in await system.scan(index, b"", None, False, 10_000)]


class WorkpoolHub(WakeUps):
    """Per-runtime state of the work pools (``runtime.workpools``)."""

    def __init__(self, kernel: Kernel, declared: Mapping[str, Declared]) -> None:
        super().__init__(kernel.feed, NOTIFY_CHANNEL, "work pool")
        #: Bumped at every announcement: dispatchers re-read the pool names after it (the
        #: work may be in a pool new to them).
        self.generation = 0
        self._kernel = kernel
        self._declared = declared
        #: Pools whose row this process has seen committed (rows are never deleted).
        self._known: set[str] = set()

    @property
    def declared(self) -> dict[str, Declared]:
        """The pools the app's modules declare, by name."""
        return dict(self._declared)

    def announce(self, when: float) -> None:
        """Work due at ``when`` was committed, maybe in a pool new to this process."""
        self.generation += 1
        super().announce(when)

    async def ensure_pool(self, writer: DocumentWriter, pool: Declared) -> None:
        """Create ``pool``'s row in this transaction if it has none yet."""
        if pool.name in self._known:
            return
        if await find_pool(writer, pool.name) is None:
            row = {"name": pool.name, "maxParallelism": pool.max_parallelism}
            await writer.system_writer().insert(POOLS, {**row, "declared": pool.max_parallelism})
        writer.writes.after_commit.append(lambda: self._known.add(pool.name))

    async def reconcile(self, pools: Iterable[Declared] | None = None) -> None:
        """Bring the pool rows in line with the declarations (``pools``: the app's)."""
        declared = list(self.declared.values() if pools is None else pools)
        if not declared:
            return

        async def body(writer: DocumentWriter) -> None:
            system = writer.system_writer()
            for pool in declared:
                row = await find_pool(writer, pool.name)
                if row is None:
                    row = {"name": pool.name, "maxParallelism": pool.max_parallelism}
                    await system.insert(POOLS, {**row, "declared": pool.max_parallelism})
                elif row.get("declared") != pool.max_parallelism:
                    log.info(
                        "work pool %s: max_parallelism %s -> %d (declared in code)",
                        pool.name,
                        row["maxParallelism"],
                        pool.max_parallelism,
                    )
                    await system.patch(
                        row["_id"],
                        {"maxParallelism": pool.max_parallelism, "declared": pool.max_parallelism},
                    )

        await self._kernel.transact(body, label="reconciling work pools")
        self._known.update(pool.name for pool in declared)


class PoolsKernel(Kernel, Protocol):
    """The kernel, with the work pools' own hub: what their store and settling run on."""

    workpools: WorkpoolHub
