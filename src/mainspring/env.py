"""Deployment environment variables: set with ``mainspring env``, read with ``ctx.env``.

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

from .errors import ValidationError
from .features import Feature, SystemTable
from .functions import FunctionDefinition, system_function

if TYPE_CHECKING:
    from .kernel import Kernel

__all__ = [
    "ENV_TABLE",
    "EnvironmentVariableRow",
    "FEATURE",
    "SYSTEM_FUNCTIONS",
    "EnvironmentVariables",
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


async def _find(ctx: Any, name: str) -> dict[str, Any] | None:
    query = ctx.db.system.query(ENV_TABLE).with_index("by_name", lambda q: q.eq("name", name))
    found: dict[str, Any] | None = await query.unique()
    return found


@system_function("mutation")
async def env_set(ctx: Any, name: str, value: str) -> bool:
    """Set a variable; True if it was new."""
    check_value(check_name(name), value)
    existing = await _find(ctx, name)
    if existing is not None:
        await ctx.db.system_writer().patch(existing["_id"], {"value": value})
        return False
    count = len(await ctx.db.system.query(ENV_TABLE).take(MAX_VARIABLES + 1))
    if count >= MAX_VARIABLES:
        raise ValidationError(f"a deployment has at most {MAX_VARIABLES} environment variables")
    await ctx.db.system_writer().insert(ENV_TABLE, {"name": name, "value": value})
    return True


@system_function("mutation")
async def env_set_many(ctx: Any, variables: dict[str, str]) -> int:
    """Set several variables at once (``env set --from-file``), all or none."""
    for name, value in variables.items():
        check_value(check_name(name), value)
    for name, value in variables.items():
        await env_set.handler(ctx, name=name, value=value)
    return len(variables)


@system_function("query")
async def env_get(ctx: Any, name: str) -> str | None:
    """A variable's value, or None."""
    found = await _find(ctx, check_name(name))
    return None if found is None else str(found["value"])


@system_function("query")
async def env_list(ctx: Any) -> dict[str, str]:
    """Every variable, by name."""
    rows = await ctx.db.system.query(ENV_TABLE).collect()
    return {row["name"]: row["value"] for row in sorted(rows, key=lambda r: r["name"])}


@system_function("mutation")
async def env_remove(ctx: Any, name: str) -> bool:
    """Remove a variable; False if it was not set."""
    found = await _find(ctx, check_name(name))
    if found is None:
        return False
    await ctx.db.system_writer().delete(found["_id"])
    return True


#: Built-in functions every app has, callable only with the admin key.
SYSTEM_FUNCTIONS: Mapping[str, FunctionDefinition] = {
    "_system/env:set": env_set,
    "_system/env:set_many": env_set_many,
    "_system/env:get": env_get,
    "_system/env:list": env_list,
    "_system/env:remove": env_remove,
}

#: What environment variables bring to a deployment.
FEATURE = Feature(
    "env",
    tables=[SystemTable(ENV_TABLE, 5, {"by_name": ("name",)})],
    functions=SYSTEM_FUNCTIONS,
)
