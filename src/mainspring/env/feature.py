"""What environment variables bring to a deployment: ``_environment_variables`` and the
``_system/env:*`` functions."""

from __future__ import annotations

from ..features import Feature, SystemTable
from .system import SYSTEM_FUNCTIONS
from .variables import ENV_TABLE

__all__ = ["FEATURE"]

FEATURE = Feature(
    "env",
    tables=[SystemTable(ENV_TABLE, 5, {"by_name": ("name",)})],
    functions=SYSTEM_FUNCTIONS,
)
