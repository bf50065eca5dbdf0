"""The ``api`` and ``internal`` objects' types: functions nested by module path.

``backend/dir/sub.py``'s ``fn`` is ``api.dir.sub.fn``, a ``FunctionReference<kind,
visibility, Args, Return>``, which is what ``anyApi`` resolves to the path ``dir/sub:fn``.
A function whose name has a camelCase alias the server resolves (see
:mod:`mainspring.names`) is declared under both names: the Python name takes the Python
argument names, the camelCase name takes camelCase argument names, so a front end reads
either as Python or as JavaScript, never a mix. A name with no underscore is both, and takes
camelCase arguments (what JavaScript callers, and ``usePaginatedQuery``, send).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from ..functions import FunctionDefinition, Visibility
from ..names import camel_aliases
from ..registry import FunctionRegistry
from ..validation import resolve_annotations
from .typescript import TypeScript, object_key, render_object

__all__ = ["Signature", "describe", "render_api"]

_NO_ARGS = "Record<string, never>"
_OBJECTS: tuple[tuple[str, Visibility, str], ...] = (
    ("api", "public", "The app's public functions: `useQuery(api.module.function, args)`."),
    ("internal", "internal", "Internal functions: only the server (and the admin) call them."),
)


@dataclass(frozen=True)
class Signature:
    """A function's TypeScript types: its arguments (both spellings) and its return value."""

    args: str
    camel_args: str
    returns: str


def describe(definition: FunctionDefinition, ts: TypeScript) -> Signature:
    """The types of ``definition``'s arguments (after ``ctx``) and return annotation."""
    handler = definition.handler
    label = definition.label
    hints = resolve_annotations(
        dict(getattr(handler, "__annotations__", {})), handler.__module__, label
    )
    fields: list[tuple[str, str, bool]] = []
    for param in list(inspect.signature(handler).parameters.values())[1:]:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            ts.warnings.append(f"{label}: *{param.name} is not an argument the server accepts")
            continue
        hint = hints.get(param.name, Any)
        optional = param.default is not param.empty
        fields.append((param.name, ts.render(hint, f"{label}({param.name})"), optional))
    returns = ts.render(hints.get("return", Any), f"{label} return value")
    if not fields:
        return Signature(_NO_ARGS, _NO_ARGS, returns)
    # Exactly the renames FunctionDefinition.validate_args makes.
    renames = {name: alias for alias, name in camel_aliases(name for name, _, _ in fields).items()}
    camel = [(renames.get(name, name), type_, optional) for name, type_, optional in fields]
    return Signature(render_object(fields), render_object(camel), returns)


@dataclass
class _Entry:
    """One key of a module's object type: a function reference."""

    sort: tuple[str, int]  # the Python name, then 0 for it and 1 for its alias
    reference: str
    doc: str | None


@dataclass
class _Module:
    functions: dict[str, _Entry] = field(default_factory=dict)
    children: dict[str, _Module] = field(default_factory=dict)


def _doc(definition: FunctionDefinition, alias_of: str | None) -> str | None:
    """The docstring's first paragraph (IDEs show it on hover)."""
    text = inspect.cleandoc(definition.handler.__doc__ or "").split("\n\n")[0].strip()
    if alias_of is not None:
        note = f"The camelCase name of `{alias_of}`."
        text = f"{text}\n\n{note}" if text else note
    return text.replace("*/", "*\\/") or None


def _reference(definition: FunctionDefinition, args: str, returns: str) -> str:
    return f'FunctionReference<"{definition.kind}", "{definition.visibility}", {args}, {returns}>'


def _tree(registry: FunctionRegistry, visibility: Visibility, ts: TypeScript) -> _Module:
    aliases = {real: alias for alias, real in registry.aliases().items()}
    root = _Module()
    for definition in sorted(registry, key=lambda d: d.path or ""):
        if definition.visibility != visibility or definition.path is None:
            continue
        module, _, name = definition.path.partition(":")
        node = root
        for part in module.split("/"):
            node = node.children.setdefault(part, _Module())
        signature = describe(definition, ts)
        alias = aliases.get(definition.path)
        # A name that is the same in both spellings (`feed`) is the JavaScript one too, so it
        # takes camelCase arguments: `usePaginatedQuery(api.notes.feed, {})` needs
        # `paginationOpts`.
        args = signature.args if alias is not None else signature.camel_args
        node.functions[name] = _Entry(
            (name, 0),
            _reference(definition, args, signature.returns),
            _doc(definition, None),
        )
        if alias is not None:
            alias_name = alias.partition(":")[2]
            node.functions[alias_name] = _Entry(
                (name, 1),
                _reference(definition, signature.camel_args, signature.returns),
                _doc(definition, name),
            )
    return root


def _render(node: _Module, depth: int) -> list[str]:
    """The lines of ``node``'s object type; its opening brace is the caller's."""
    pad = "  " * depth
    keys = set(node.functions) | set(node.children)

    def order(key: str) -> tuple[str, int]:
        entry = node.functions.get(key)
        return entry.sort if entry is not None else (key, 0)

    lines: list[str] = []
    for key in sorted(keys, key=order):
        entry = node.functions.get(key)
        parts = []
        if entry is not None:
            if entry.doc:
                lines.extend(_comment(entry.doc, pad))
            parts.append(entry.reference)
        child = node.children.get(key)
        if child is not None:
            # A module and a function of the same name: anyApi serves both, so does the type.
            parts.append("{\n" + "\n".join(_render(child, depth + 1)) + f"\n{pad}}}")
        lines.append(f"{pad}{object_key(key)}: {' & '.join(parts)};")
    return lines


def _comment(text: str, pad: str) -> list[str]:
    body = text.splitlines()
    if len(body) == 1:
        return [f"{pad}/** {body[0]} */"]
    return [f"{pad}/**", *(f"{pad} * {line}".rstrip() for line in body), f"{pad} */"]


def render_api(registry: FunctionRegistry, ts: TypeScript) -> str:
    """The body of ``api.d.ts``: the ``api`` and ``internal`` declarations."""
    blocks = []
    for name, visibility, doc in _OBJECTS:
        lines = _render(_tree(registry, visibility, ts), 1)
        body = "{\n" + "\n".join(lines) + "\n}" if lines else "{}"
        blocks.append(f"/** {doc} */\nexport declare const {name}: {body};\n")
    return "\n".join(blocks)
