"""Turning type hints into validators, and pydantic's errors into ours.

Validation is strict (a string is never coerced into a number) except that an ``int`` is a
valid ``float``, as a JS number is both.
"""

from __future__ import annotations

from typing import Any

import pydantic
from pydantic import ConfigDict, TypeAdapter

from .errors import ValidationError

__all__ = ["STRICT", "describe_errors", "make_adapter", "resolve_annotations", "validate"]

STRICT = ConfigDict(strict=True, extra="forbid", arbitrary_types_allowed=False)


def make_adapter(hint: Any, where: str) -> TypeAdapter[Any]:
    """A validator for ``hint``; a hint pydantic cannot handle is a clear declaration error."""
    from .errors import SchemaError

    try:
        if isinstance(hint, type) and hasattr(hint, "__total__"):  # a TypedDict carries its config
            return TypeAdapter(hint)
        return TypeAdapter(hint, config=STRICT)
    except pydantic.PydanticUserError as exc:
        raise SchemaError(f"{where}: unsupported type {hint!r}: {exc}") from exc
    except pydantic.PydanticSchemaGenerationError as exc:
        raise SchemaError(f"{where}: unsupported type {hint!r}: {exc}") from exc


def resolve_annotations(
    annotations: dict[str, Any], module_name: str, where: str
) -> dict[str, Any]:
    """Evaluate string annotations in their module, ignoring the module's functions.

    A function named ``list`` or ``type`` (common in Convex apps) would otherwise shadow the
    builtin inside its own module's hints.
    """
    import builtins
    import sys
    import typing

    from .errors import SchemaError

    module = sys.modules.get(module_name)
    namespace: dict[str, Any] = {**vars(typing), **vars(builtins)}
    for name, value in (vars(module) if module else {}).items():
        if (
            not callable(value)
            or isinstance(value, type)
            or hasattr(value, "__origin__")
            or name not in namespace
        ):
            namespace[name] = value
    out = {}
    for name, hint in annotations.items():
        if isinstance(hint, str):
            try:
                hint = eval(hint, namespace)
            except Exception as exc:
                raise SchemaError(f"{where}: cannot resolve the type of {name!r}: {exc}") from exc
        out[name] = hint
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def describe_errors(exc: pydantic.ValidationError, where: str, noun: str = "field") -> str:
    """One readable line per problem: where, which field, what was expected, what came."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
        kind = err["type"]
        if kind == "missing":
            problem = "is required but missing"
        elif kind == "extra_forbidden":
            problem = f"is not declared (got {_short(err.get('input'))})"
        else:
            msg = err["msg"]
            msg = msg[0].lower() + msg[1:] if msg else msg
            got = err.get("input")
            problem = f"{msg}, got {type(got).__name__} {_short(got)}"
        lines.append(f"{noun} `{loc}` {problem}" if loc else problem)
    return f"{where}: " + "; ".join(lines)


def validate(adapter: TypeAdapter[Any], value: Any, where: str, noun: str = "field") -> Any:
    """Validate ``value``; raise our ValidationError naming ``where`` on failure."""
    try:
        return adapter.validate_python(value)
    except pydantic.ValidationError as exc:
        raise ValidationError(describe_errors(exc, where, noun)) from None
