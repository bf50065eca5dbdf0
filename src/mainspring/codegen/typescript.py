"""Python type hints as TypeScript types, as the values travel over the wire.

Python ``int`` and ``float`` are both a JS ``number`` (decision 0002), ``bytes`` an
``ArrayBuffer``, ``Id[Files]`` an ``Id<"files">`` and a :class:`~mainspring.Table` class a
``Doc<"files">`` (both declared in the generated ``dataModel.d.ts``). Anything without a
JSON shape (an arbitrary class, a TypeVar) becomes ``any`` and is reported in
:attr:`TypeScript.warnings`, so the generated types never promise more than the server checks.
"""

from __future__ import annotations

import collections.abc
import enum
import json
import re
import types
import typing
from collections.abc import Collection, Iterable
from typing import Any, NotRequired, Required

from typing_extensions import is_typeddict

from ..ids import IdRef
from ..schema import Table
from ..validation import resolve_annotations

__all__ = ["TypeScript", "object_key", "render_object"]

_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_SCALARS: dict[Any, str] = {
    str: "string",
    bool: "boolean",
    int: "number",
    float: "number",
    bytes: "ArrayBuffer",
    bytearray: "ArrayBuffer",
    type(None): "null",
    None: "null",
    Any: "any",
    object: "any",
}
_ARRAYS = (
    list,
    set,
    frozenset,
    collections.abc.Sequence,
    collections.abc.MutableSequence,
    collections.abc.Set,
    collections.abc.MutableSet,
    collections.abc.Collection,
    collections.abc.Iterable,
)
_MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


def object_key(name: str) -> str:
    """``name`` as an object type's key: bare when it is an identifier, else quoted."""
    return name if _IDENTIFIER.match(name) else json.dumps(name, ensure_ascii=False)


def render_object(fields: Iterable[tuple[str, str, bool]]) -> str:
    """``{ a: string; b?: number }`` from ``(name, type, optional)`` triples."""
    members = [
        f"{object_key(name)}{'?' if optional else ''}: {ts}" for name, ts, optional in fields
    ]
    return "{ " + "; ".join(members) + " }" if members else "{}"


def _scalar(hint: Any) -> str | None:
    try:
        return _SCALARS.get(hint)
    except TypeError:  # unhashable metadata in an Annotated hint
        return None


def _literal(value: Any) -> str:
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int | float):
        return repr(value)
    return "any"


def _union(parts: Iterable[str]) -> str:
    unique = list(dict.fromkeys(parts))
    return "any" if "any" in unique else " | ".join(unique)


class TypeScript:
    """Renders hints for one app; ``tables`` are the names its ``Doc<...>`` type knows."""

    def __init__(self, tables: Collection[str] = ()) -> None:
        self.tables = tables
        #: Hints that could only be rendered as ``any``, each with where it was found.
        self.warnings: list[str] = []
        self._expanding: set[type] = set()  # TypedDicts being rendered: recursion stops here

    def render(self, hint: Any, where: str) -> str:
        """The TypeScript type of values of ``hint`` (found at ``where``, for warnings)."""
        scalar = _scalar(hint)
        if scalar is not None:
            return scalar
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if origin is typing.Annotated:
            refs = [meta for meta in hint.__metadata__ if isinstance(meta, IdRef)]
            return self._id(refs[0], where) if refs else self.render(args[0], where)
        if origin in (Required, NotRequired):
            return self.render(args[0], where)
        if origin is typing.Union or isinstance(hint, types.UnionType):
            return _union(self.render(arm, where) for arm in args)
        if origin is typing.Literal:
            return _union(_literal(value) for value in args)
        if origin is tuple:
            if len(args) == 2 and args[1] is Ellipsis:
                return f"Array<{self.render(args[0], where)}>"
            return "[" + ", ".join(self.render(arg, where) for arg in args) + "]"
        if origin in _ARRAYS:
            return f"Array<{self.render(args[0] if args else Any, where)}>"
        if origin in _MAPPINGS:
            key, value = args if len(args) == 2 else (str, Any)
            return f"Record<{self._key(key)}, {self.render(value, where)}>"
        if hint in (list, set, frozenset, tuple):
            return "Array<any>"
        if hint is dict:
            return "Record<string, any>"
        if isinstance(hint, typing.NewType):
            return self.render(hint.__supertype__, where)
        if is_typeddict(hint):
            return self._typed_dict(hint, where)
        if isinstance(hint, type) and issubclass(hint, Table) and hint is not Table:
            return self._document(hint, where)
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            return _union(_literal(member) for member in hint)
        if isinstance(hint, type) and issubclass(hint, str):
            return "string"  # a bare ``Id`` is a str subclass at run time
        return self._unknown(hint, where)

    def fields(self, hints: dict[str, Any], where: str, optional: Collection[str] = ()) -> str:
        """An object type of ``hints``; ``NotRequired`` (or a name in ``optional``) adds ``?``."""
        return render_object(
            (name, self.render(hint, f"{where}.{name}"), self.is_optional(hint, name in optional))
            for name, hint in hints.items()
        )

    @staticmethod
    def is_optional(hint: Any, default: bool = False) -> bool:
        """Whether a field declared as ``hint`` may be absent (``NotRequired``/``Required``)."""
        origin = typing.get_origin(hint)
        if origin is NotRequired:
            return True
        if origin is Required:
            return False
        if origin is typing.Annotated:
            return TypeScript.is_optional(typing.get_args(hint)[0], default)
        return default

    def _key(self, hint: Any) -> str:
        if typing.get_origin(hint) is typing.Literal:
            return _union(_literal(value) for value in typing.get_args(hint))
        return "string"  # Convex object keys are strings, whatever the hint says

    def _id(self, ref: IdRef, where: str) -> str:
        try:
            table = ref.table
        except Exception:  # a Table class no Schema named
            self.warnings.append(f"{where}: {ref!r} names a table outside the schema")
            return "Id<string>"
        return f"Id<{json.dumps(table)}>"

    def _document(self, table: type[Table], where: str) -> str:
        name = getattr(table, "__table_name__", None)
        if name not in self.tables:
            return self._unknown(table, where)
        return f"Doc<{json.dumps(name)}>"

    def _typed_dict(self, cls: type, where: str) -> str:
        if cls in self._expanding:
            return "any"  # a recursive TypedDict: inline types cannot name themselves
        # TypedDict keeps string annotations as ForwardRefs: evaluate them as functions' are.
        raw = {
            name: hint.__forward_arg__ if isinstance(hint, typing.ForwardRef) else hint
            for name, hint in cls.__annotations__.items()
        }
        try:
            hints = resolve_annotations(raw, cls.__module__, where)
        except Exception:
            try:  # e.g. a field type from the module of a base class
                hints = typing.get_type_hints(cls, include_extras=True)
            except Exception:
                return self._unknown(cls, where)
        # __optional_keys__ misses NotRequired written as a string (``from __future__ import
        # annotations`` on 3.11); fields() reads the resolved hints for that.
        optional: frozenset[str] = getattr(cls, "__optional_keys__", frozenset())
        self._expanding.add(cls)
        try:
            return self.fields(hints, f"{where} ({cls.__name__})", optional)
        finally:
            self._expanding.discard(cls)

    def _unknown(self, hint: Any, where: str) -> str:
        self.warnings.append(f"{where}: no TypeScript type for {hint!r}, using any")
        return "any"
