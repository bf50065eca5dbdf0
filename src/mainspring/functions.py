"""Function declarations (``@query``, ``@mutation``, ``@action`` and their internal twins),
references to them by path (``api.files.save_file``), and argument / return validation.

A function's public path is ``<module path>:<function name>`` relative to the functions
folder, e.g. ``files:save_file`` or ``jobs/handlers:send_email``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, NotRequired, overload

from pydantic import ConfigDict, TypeAdapter
from typing_extensions import TypedDict

from .errors import FunctionNotFoundError, SchemaError
from .names import camel_aliases
from .validation import make_adapter, resolve_annotations, validate

__all__ = [
    "FunctionDefinition",
    "FunctionReference",
    "Kind",
    "Visibility",
    "action",
    "api",
    "internal",
    "internal_action",
    "internal_mutation",
    "internal_query",
    "mutation",
    "parse_path",
    "query",
    "system_function",
]

Kind = Literal["query", "mutation", "action"]
Visibility = Literal["public", "internal"]
Handler = Callable[..., Awaitable[Any]]


class FunctionDefinition:
    """A registered function: its handler, kind, visibility and validators.

    Calling the definition calls the handler directly, like the plain function it wraps.
    """

    def __init__(
        self, handler: Handler, kind: Kind, visibility: Visibility, *, system: bool = False
    ) -> None:
        if not inspect.iscoroutinefunction(handler):
            raise SchemaError(f"{handler.__qualname__}: Mainspring functions must be `async def`")
        self.handler = handler
        self.kind: Kind = kind
        self.visibility: Visibility = visibility
        #: One of Mainspring's built-in functions (``_system/…``): its ctx is a
        #: :class:`~mainspring.context.SystemCtx` with the internal database objects.
        self.system = system
        self.name = handler.__name__
        self.path: str | None = None  # set when the functions folder is loaded
        self.__doc__ = handler.__doc__
        self.__wrapped__ = handler
        self._takes_nothing = False
        self._params: frozenset[str] = frozenset()
        # camelCase argument name -> parameter (``storageId`` -> ``storage_id``)
        self._arg_aliases: dict[str, str] = {}
        self._adapters: tuple[TypeAdapter[Any], TypeAdapter[Any] | None, dict[str, Any]] | None = (
            None
        )

    def __repr__(self) -> str:
        return f"<{self.visibility} {self.kind} {self.path or self.name}>"

    async def __call__(self, ctx: Any, /, **args: Any) -> Any:
        return await self.handler(ctx, **args)

    @property
    def label(self) -> str:
        """How errors name this function."""
        return self.path or self.handler.__qualname__

    def _build(self) -> tuple[TypeAdapter[Any], TypeAdapter[Any] | None, dict[str, Any]]:
        # Built lazily: hints may name things defined after the decorator ran.
        if self._adapters is not None:
            return self._adapters
        signature = inspect.signature(self.handler)
        hints = resolve_annotations(
            dict(getattr(self.handler, "__annotations__", {})), self.handler.__module__, self.label
        )
        params = list(signature.parameters.values())
        if not params:
            raise SchemaError(f"{self.label}: the first parameter must be `ctx`")
        fields: dict[str, Any] = {}
        defaults: dict[str, Any] = {}
        for param in params[1:]:
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
                raise SchemaError(
                    f"{self.label}: argument {param.name!r} must be a plain named parameter"
                )
            hint = hints.get(param.name, Any)
            if param.default is param.empty:
                fields[param.name] = hint
            else:
                fields[param.name] = NotRequired[hint]
                defaults[param.name] = param.default
        typed = TypedDict(f"{self.name}_args", fields)  # type: ignore[misc]
        typed.__pydantic_config__ = ConfigDict(strict=True, extra="forbid")  # type: ignore[attr-defined]
        args_adapter = make_adapter(typed, self.label)
        returns = None
        if "return" in hints and hints["return"] is not Any:
            returns = make_adapter(hints["return"], f"{self.label} return value")
        self._takes_nothing = not fields
        self._params = frozenset(fields)
        self._arg_aliases = camel_aliases(fields)
        self._adapters = (args_adapter, returns, defaults)
        return self._adapters

    def validate_args(self, args: Any) -> dict[str, Any]:
        """Check ``args`` against the signature; fill defaults. Raises ValidationError."""
        from .errors import ValidationError

        if not isinstance(args, dict):
            raise ValidationError(
                f"{self.label}: arguments must be an object, got {type(args).__name__}"
            )
        adapter, _, defaults = self._build()
        if not args and not defaults and self._takes_nothing:
            return {}  # nothing to check, and pydantic's round trip is most of a cheap call
        if self._arg_aliases and not args.keys() <= self._params:
            args = self._rename_aliases(args)
        checked: dict[str, Any] = validate(
            adapter, args, f"{self.label}: invalid arguments", noun="argument"
        )
        return {**defaults, **checked}

    def _rename_aliases(self, args: dict[str, Any]) -> dict[str, Any]:
        """``args`` with camelCase keys renamed to their parameters (unknown keys kept)."""
        from .errors import ValidationError

        renamed: dict[str, Any] = {}
        for key, value in args.items():
            name = self._arg_aliases.get(key, key)  # no alias is itself a parameter
            if name != key and name in args:
                raise ValidationError(
                    f"{self.label}: invalid arguments: `{name}` and `{key}` name the same "
                    "argument; pass only one of them"
                )
            renamed[name] = value
        return renamed

    def validate_return(self, value: Any) -> Any:
        """Check a handler's return value against its annotation."""
        _, returns, _ = self._build()
        if returns is None:
            return value
        return validate(returns, value, f"{self.label}: invalid return value", noun="value")


class _Decorator:
    """Turns ``async def handler(ctx, ...)`` into a :class:`FunctionDefinition`."""

    def __init__(self, kind: Kind, visibility: Visibility) -> None:
        self.kind: Kind = kind
        self.visibility: Visibility = visibility
        article = "an" if visibility == "internal" else "a"
        self.__doc__ = (
            f"Declare {article} {visibility} {kind}: use as ``@{self.name}`` or "
            f"``@{self.name}()`` on an ``async def handler(ctx, ...)``."
        )

    @property
    def name(self) -> str:
        return self.kind if self.visibility == "public" else f"internal_{self.kind}"

    def __repr__(self) -> str:
        return f"mainspring.{self.name}"

    @overload
    def __call__(self, fn: Handler, /) -> FunctionDefinition: ...
    @overload
    def __call__(self, /) -> Callable[[Handler], FunctionDefinition]: ...
    def __call__(
        self, fn: Handler | None = None, /
    ) -> FunctionDefinition | Callable[[Handler], FunctionDefinition]:
        if fn is None:
            return lambda f: FunctionDefinition(f, self.kind, self.visibility)
        return FunctionDefinition(fn, self.kind, self.visibility)


query = _Decorator("query", "public")
mutation = _Decorator("mutation", "public")
action = _Decorator("action", "public")
internal_query = _Decorator("query", "internal")
internal_mutation = _Decorator("mutation", "internal")
internal_action = _Decorator("action", "internal")


def system_function(kind: Kind) -> Callable[[Handler], FunctionDefinition]:
    """Declare one of Mainspring's built-in functions (internal, with a ``SystemCtx``);
    never for user code."""
    return lambda fn: FunctionDefinition(fn, kind, "internal", system=True)


def parse_path(path: str) -> str:
    """Canonical ``module:function`` form; accepts ``module.function`` too, like Convex clients."""
    if not isinstance(path, str) or not path:
        raise FunctionNotFoundError(f"invalid function path {path!r}")
    module, sep, name = path.partition(":")
    if not sep:
        module, name = path, "default"
    if module.endswith(".py") or module.endswith(".js"):
        module = module[:-3]
    if not module or not name:
        raise FunctionNotFoundError(f"invalid function path {path!r}")
    return f"{module}:{name}"


@dataclass(frozen=True)
class FunctionReference:
    """A function named by path, resolved when called: ``api.files.save_file``."""

    path: str
    visibility: Visibility | None = None  # None: a plain path string, either visibility


class _PathProxy:
    """Builds references by attribute access: ``internal.jobs.handlers.send_email``."""

    def __init__(self, visibility: Visibility, parts: tuple[str, ...] = ()) -> None:
        self._visibility: Visibility = visibility
        self._parts = parts

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _PathProxy(self._visibility, (*self._parts, name))

    def __repr__(self) -> str:
        return f"<{self._visibility} reference {'.'.join(self._parts)}>"

    def reference(self) -> FunctionReference:
        """The function this chain of names points at."""
        if len(self._parts) < 2:
            raise FunctionNotFoundError(
                f"{'.'.join(self._parts) or self._visibility}: name a module and a function"
            )
        module = "/".join(self._parts[:-1])
        return FunctionReference(f"{module}:{self._parts[-1]}", self._visibility)


api: Any = _PathProxy("public")
internal: Any = _PathProxy("internal")


def as_reference(target: Any) -> FunctionDefinition | FunctionReference:
    """Normalize what users pass as a function: a definition, a proxy, a reference or a path."""
    if isinstance(target, (FunctionDefinition, FunctionReference)):
        return target
    if isinstance(target, _PathProxy):
        return target.reference()
    if isinstance(target, str):
        return FunctionReference(parse_path(target))
    raise FunctionNotFoundError(f"not a function or function reference: {target!r}")
