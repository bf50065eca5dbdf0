"""What work pools bring to a deployment: ``_workpools``, ``_workpool_items`` and the
``_system/workpool:*`` functions behind ``mainspring jobs``."""

from __future__ import annotations

from ..features import Feature, SystemTable
from .items import ITEMS, POOL_INDEX, POOLS, STATUS_INDEX
from .system import SYSTEM_FUNCTIONS

__all__ = ["FEATURE"]

FEATURE = Feature(
    "workpool",
    tables=[
        SystemTable(POOLS, 7, {POOL_INDEX: ("name",)}),
        SystemTable(ITEMS, 8, {STATUS_INDEX: ("pool", "status", "runAt")}),
    ],
    functions=SYSTEM_FUNCTIONS,
)
