"""Loading an app's functions folder and looking functions up by path."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from .auth_providers import AuthConfig
from .crons.jobs import CronJobs
from .errors import ConfigurationError, FunctionNotFoundError, NotAllowedError, SchemaError
from .functions import FunctionDefinition, as_reference, parse_path
from .http_router import HttpRouter
from .names import camel_case
from .schema import Schema
from .workpool.pool import Workpool

__all__ = ["FunctionRegistry", "LoadedApp", "load_app"]


class FunctionRegistry:
    """Every function of an app, by canonical path.

    A front end may also name a function in camelCase (``files:generateUploadUrl`` for
    ``files:generate_upload_url``, see :mod:`mainspring.names`): such aliases are resolved
    only when no function has that exact path.
    """

    def __init__(self) -> None:
        self._functions: dict[str, FunctionDefinition] = {}
        # alias path -> real path; None when two functions share the alias (it names neither).
        self._aliases: dict[str, str | None] = {}

    def add(self, path: str, definition: FunctionDefinition) -> None:
        """Register ``definition`` at ``path`` (``module:name``)."""
        if self._functions.get(path) is definition:
            return
        if path in self._functions:
            raise SchemaError(f"two functions are registered at {path!r}")
        if definition.path is not None and definition.path != path:
            raise SchemaError(f"{definition.label} is already registered at {definition.path!r}")
        definition.path = path
        self._functions[path] = definition
        module, _, name = path.partition(":")
        alias = f"{module}:{camel_case(name)}"
        if alias != path:
            self._aliases[alias] = path if alias not in self._aliases else None

    def __iter__(self) -> Iterator[FunctionDefinition]:
        return iter(self._functions.values())

    def __len__(self) -> int:
        return len(self._functions)

    def lookup(self, path: str, *, allow_internal: bool) -> FunctionDefinition:
        """The function at ``path``; internal ones only when ``allow_internal``."""
        canonical = parse_path(path)
        definition = self._functions.get(canonical)
        if definition is None:
            definition = self._by_alias(canonical)
        if definition is None or (definition.visibility == "internal" and not allow_internal):
            raise FunctionNotFoundError(f"Could not find public function for '{canonical}'")
        return definition

    def aliases(self) -> dict[str, str]:
        """``{alias path: real path}`` of the camelCase names that reach a function."""
        return {
            alias: real
            for alias, real in self._aliases.items()
            if real is not None and alias not in self._functions
        }

    def _by_alias(self, path: str) -> FunctionDefinition | None:
        real = self._aliases.get(path)
        return None if real is None else self._functions[real]

    def resolve(self, target: Any) -> FunctionDefinition:
        """A definition from anything naming a function (server-side calls may reach internals)."""
        ref = as_reference(target)
        if isinstance(ref, FunctionDefinition):
            if ref.path is None or self._functions.get(ref.path) is not ref:
                raise FunctionNotFoundError(f"{ref.label} is not registered in this app")
            return ref
        definition = self._functions.get(ref.path)
        if definition is None:
            definition = self._by_alias(ref.path)
        if definition is None:
            raise FunctionNotFoundError(f"no function at {ref.path!r}")
        if ref.visibility is not None and ref.visibility != definition.visibility:
            proxy = "internal" if definition.visibility == "internal" else "api"
            dotted = ref.path.replace("/", ".").replace(":", ".")
            raise NotAllowedError(f"{ref.path} is {definition.visibility}: use {proxy}.{dotted}")
        return definition


@dataclass
class LoadedApp:
    """What a functions folder declares."""

    directory: Path | None
    registry: FunctionRegistry
    schema: Schema | None = None
    modules: dict[str, ModuleType] = field(default_factory=dict)
    auth: AuthConfig | None = None
    http: HttpRouter | None = None
    crons: CronJobs | None = None
    #: ``Workpool``\ s declared at module level, by name.
    workpools: dict[str, Workpool] = field(default_factory=dict)


def _module_files(root: Path) -> list[Path]:
    files = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if any(part.startswith((".", "_")) for part in rel.parts):
            continue  # private modules, __init__.py, _generated
        files.append(path)
    return files


def load_app(directory: str | Path) -> LoadedApp:
    """Import every module of the functions folder and register the functions they define.

    The folder is imported as a package named after itself (``backend``), with its parent on
    ``sys.path``, so user modules import each other as ordinary Python.
    """
    root = Path(directory).resolve()
    if not root.is_dir():
        raise ConfigurationError(f"functions folder {str(root)!r} does not exist")
    package = root.name
    if not package.isidentifier():
        raise ConfigurationError(f"functions folder name {package!r} must be a Python identifier")
    parent = str(root.parent)
    # First on the path, so an app loaded earlier from another folder with the same name
    # (tests, the CLI) cannot shadow this one's modules.
    if parent in sys.path:
        sys.path.remove(parent)
    sys.path.insert(0, parent)
    # Another app with the same folder name may have been loaded in this process (tests).
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]
    importlib.invalidate_caches()
    registry = FunctionRegistry()
    app = LoadedApp(root, registry)
    for path in _module_files(root):
        rel = path.relative_to(root).with_suffix("")
        module_name = ".".join((package, *rel.parts))
        module = importlib.import_module(module_name)
        app.modules["/".join(rel.parts)] = module
        for attr, value in vars(module).items():
            if isinstance(value, FunctionDefinition) and value.handler.__module__ == module_name:
                registry.add(f"{'/'.join(rel.parts)}:{attr}", value)
            elif isinstance(value, Workpool):
                _add_workpool(app, value, module_name)
    schema_module = app.modules.get("schema")
    if schema_module is not None:
        schema = getattr(schema_module, "schema", None)
        if schema is not None and not isinstance(schema, Schema):
            raise SchemaError("schema.py: `schema` must be a mainspring.Schema")
        app.schema = schema
    app.auth = _special(app, "auth", "auth", AuthConfig)
    app.http = _special(app, "http", "http", HttpRouter)
    app.crons = _special(app, "crons", "crons", CronJobs)
    return app


def _add_workpool(app: LoadedApp, pool: Workpool, module: str) -> None:
    """Collect ``pool`` (modules importing it from another module see the same object)."""
    known = app.workpools.get(pool.name)
    if known is not None and known is not pool:
        raise SchemaError(f"{module}: two Workpools are named {pool.name!r}")
    app.workpools[pool.name] = pool


def _special(app: LoadedApp, module: str, attribute: str, kind: type[Any]) -> Any:
    """``backend/<module>.py``'s ``<attribute>``, checked to be a ``kind``."""
    found = getattr(app.modules.get(module), attribute, None)
    if found is not None and not isinstance(found, kind):
        raise SchemaError(f"{module}.py: `{attribute}` must be a mainspring {kind.__name__}")
    return found


def app_from_functions(*definitions: FunctionDefinition, module: str = "app") -> FunctionRegistry:
    """A registry from definitions given directly (tests, scripts)."""
    registry = FunctionRegistry()
    for definition in definitions:
        registry.add(f"{module}:{definition.name}", definition)
    return registry
