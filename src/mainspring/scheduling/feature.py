"""What scheduled functions bring to a deployment: ``_scheduled_functions`` and the
``_system/scheduler:*`` functions behind ``mainspring scheduled``."""

from __future__ import annotations

from ..features import Feature, SystemTable
from .jobs import COMPLETED_INDEX, STATE_INDEX, TABLE
from .system import SYSTEM_FUNCTIONS

__all__ = ["FEATURE"]

FEATURE = Feature(
    "scheduling",
    tables=[
        SystemTable(
            TABLE,
            2,
            {STATE_INDEX: ("state.kind", "scheduledTime"), COMPLETED_INDEX: ("completedTime",)},
        )
    ],
    functions=SYSTEM_FUNCTIONS,
)
