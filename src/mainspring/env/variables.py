"""The environment variables each process holds (``ctx.env``), and the naming rules.

They live in the system table ``_environment_variables`` so every process of a deployment
sees the same values, and a change needs no restart: each process re-reads them after its own
writes at once and others' within :data:`REFRESH_MS`.

They are deliberately *not* copied into ``os.environ``: that is process-wide, shared by
every concurrent call, and visible to every library; ``ctx.env`` is the deployment's own.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypedDict, cast

from ..errors import ValidationError

if TYPE_CHECKING:
    from ..kernel import Kernel

__all__ = [
    "ENV_TABLE",
    "EnvironmentVariableRow",
    "EnvironmentVariables",
    "MAX_VARIABLES",
    "check_name",
    "check_value",
]

ENV_TABLE = "_environment_variables"
REFRESH_MS = 1_000.0
MAX_NAME = 40
MAX_VALUE_BYTES = 8 * 1024
MAX_VARIABLES = 100
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def check_name(name: Any) -> str:
    """``name`` if it is a valid variable name; ValidationError naming the rule otherwise."""
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > MAX_NAME:
        raise ValidationError(
            f"invalid environment variable name {name!r}: start with a letter, use letters, "
            f"digits and '_', at most {MAX_NAME} characters"
        )
    return name


def check_value(name: str, value: Any) -> str:
    """``value`` if it is a valid value (a string of at most 8 KiB); it is never echoed."""
    if not isinstance(value, str):
        raise ValidationError(f"environment variable {name}: the value must be a string")
    if len(value.encode()) > MAX_VALUE_BYTES:
        raise ValidationError(f"environment variable {name}: the value is larger than 8 KiB")
    return value


class EnvironmentVariableRow(TypedDict):
    """An ``_environment_variables`` document."""

    _id: str
    _creationTime: float
    name: str
    value: str


class EnvironmentVariables(Mapping[str, str]):
    """``ctx.env``: a read-only mapping of the deployment's variables."""

    def __init__(self, kernel: Kernel) -> None:
        self._kernel = kernel
        self._values: dict[str, str] = {}
        self._loaded_at: float | None = None

    def __getitem__(self, name: str) -> str:
        try:
            return self._values[name]
        except KeyError:
            raise KeyError(
                f"environment variable {name!r} is not set (mainspring env set {name} …)"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"<EnvironmentVariables {sorted(self._values)}>"  # names only, never values

    def invalidate(self) -> None:
        """Re-read on the next call (after this process changed a variable)."""
        self._loaded_at = None

    async def refresh_if_stale(self) -> None:
        """Re-read the variables if they were last read more than REFRESH_MS ago."""
        now = self._kernel.clock.now_ms()
        if self._loaded_at is not None and now - self._loaded_at < REFRESH_MS:
            return
        async with self._kernel.read_snapshot() as db:
            documents = await db.system.query(ENV_TABLE).collect()
        rows = [cast(EnvironmentVariableRow, document) for document in documents]
        self._values = {row["name"]: row["value"] for row in rows}
        self._loaded_at = now
