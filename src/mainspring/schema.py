"""Tables and schemas declared once with standard type hints.

::

    class Jobs(Table, indexes={"by_status": ["status"]}):
        type: str
        status: Literal["pending", "done"]
        error: NotRequired[str]

    schema = Schema(jobs=Jobs)

The same declaration validates every insert, patch and replace at run time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import ConfigDict, TypeAdapter
from typing_extensions import TypedDict

from .errors import SchemaError
from .validation import describe_errors, make_adapter, resolve_annotations

__all__ = ["RESERVED_INDEX_NAMES", "Schema", "Table", "check_table_name"]

RESERVED_INDEX_NAMES = frozenset({"by_id", "by_creation_time"})
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


def check_table_name(name: str, *, system: bool = False) -> None:
    """Raise SchemaError unless ``name`` is a valid (user or system) table name."""
    bare = name[1:] if system and name.startswith("_") else name
    if not isinstance(name, str) or not _NAME.match(bare):
        raise SchemaError(
            f"invalid table name {name!r}: use letters, digits and '_', starting with a letter"
        )


class Table:
    """Base class of a table declaration; fields are class annotations.

    ``indexes`` maps an index name to the list of (dotted) field paths it orders by.
    """

    __indexes__: ClassVar[dict[str, list[str]]] = {}
    #: Set by the Schema that declares the table; lets ``Id[Files]`` name it.
    __table_name__: ClassVar[str]

    def __init_subclass__(cls, indexes: Mapping[str, Sequence[str]] | None = None, **kw: Any):
        super().__init_subclass__(**kw)
        cls.__indexes__ = {name: list(fields) for name, fields in (indexes or {}).items()}


def _field_hints(name: str, declaration: type[Table]) -> dict[str, Any]:
    """Resolved annotations of the declaration and its Table bases (not Table itself)."""
    hints: dict[str, Any] = {}
    for cls in reversed(declaration.__mro__):
        if issubclass(cls, Table) and cls is not Table:
            own = vars(cls).get("__annotations__", {})
            hints.update(resolve_annotations(own, cls.__module__, f"table {name!r}"))
    return hints


class TableSchema:
    """A resolved table: its validator and its indexes."""

    def __init__(self, name: str, declaration: type[Table]) -> None:
        check_table_name(name)
        self.name = name
        self.declaration = declaration
        hints = _field_hints(name, declaration)
        for field in hints:
            if field.startswith("_"):
                raise SchemaError(f"table {name!r}: field {field!r} may not start with '_'")
        self.fields = hints
        typed = TypedDict(declaration.__name__, hints)  # type: ignore[misc]
        typed.__pydantic_config__ = ConfigDict(strict=True, extra="forbid")  # type: ignore[attr-defined]
        self.adapter: TypeAdapter[Any] = make_adapter(typed, f"table {name!r}")
        self.indexes = dict(declaration.__indexes__)
        for index, paths in self.indexes.items():
            if index in RESERVED_INDEX_NAMES or not _NAME.match(index):
                raise SchemaError(f"table {name!r}: invalid or reserved index name {index!r}")
            if not paths:
                raise SchemaError(f"table {name!r}: index {index!r} has no fields")
            for path in paths:
                if path.split(".")[0] not in hints:
                    raise SchemaError(
                        f"table {name!r}: index {index!r} names unknown field {path!r}"
                    )
            if len(set(paths)) != len(paths):
                raise SchemaError(f"table {name!r}: index {index!r} repeats a field")

    def check_document(self, document: Mapping[str, Any], where: str) -> None:
        """Raise ValidationError unless ``document`` (without system fields) fits the table."""
        import pydantic

        from .errors import ValidationError

        try:
            self.adapter.validate_python(document)
        except pydantic.ValidationError as exc:
            raise ValidationError(describe_errors(exc, where)) from None


class Schema:
    """The app's tables: ``Schema(files=Files, jobs=Jobs)``.

    With ``strict_tables=True`` (the default) writing to a table the schema does not
    declare is an error; set it to False to mix declared and free-form tables.
    """

    def __init__(
        self,
        tables: Mapping[str, type[Table]] | None = None,
        /,
        *,
        strict_tables: bool = True,
        **kw_tables: type[Table],
    ) -> None:
        merged = {**(tables or {}), **kw_tables}
        self.strict_tables = strict_tables
        self.tables: dict[str, TableSchema] = {}
        for name, declaration in merged.items():
            if not (isinstance(declaration, type) and issubclass(declaration, Table)):
                raise SchemaError(f"table {name!r}: expected a Table subclass, got {declaration!r}")
            self.tables[name] = TableSchema(name, declaration)
            existing = getattr(declaration, "__table_name__", name)
            if existing != name:
                raise SchemaError(
                    f"table class {declaration.__name__} is already the table {existing!r}"
                )
            declaration.__table_name__ = name

    def table(self, name: str) -> TableSchema | None:
        """The declaration of table ``name``, if declared."""
        return self.tables.get(name)
