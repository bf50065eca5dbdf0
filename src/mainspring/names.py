"""Front-end names: the camelCase form of a snake_case Python name.

Convex front ends are written for JavaScript backends, so they call
``api.files.generateUploadUrl`` with ``{storageId}`` where the Python function is
``files:generate_upload_url`` with a ``storage_id`` parameter. The server accepts both forms
(the registry for function names, :class:`~mainspring.functions.FunctionDefinition` for
argument names) and ``mainspring codegen`` declares both, all through :func:`camel_case` so
that what the types promise is exactly what the server resolves.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["camel_aliases", "camel_case"]


def camel_case(name: str) -> str:
    """``generate_upload_url`` → ``generateUploadUrl``.

    Leading underscores stay (``_helper_fn`` → ``_helperFn``); a trailing one goes, so that a
    parameter named ``type_`` or ``from_`` (dodging a builtin or a keyword) is ``type`` or
    ``from`` in JavaScript. Names without an inner underscore are returned unchanged.
    """
    body = name.lstrip("_")
    if "_" not in body:
        return name
    prefix = name[: len(name) - len(body)]
    head, *rest = body.split("_")
    return prefix + head + "".join(part[:1].upper() + part[1:] for part in rest)


def camel_aliases(names: Iterable[str]) -> dict[str, str]:
    """``{alias: name}`` for every name whose camelCase form differs from it.

    An alias that is itself one of ``names`` is left out (the real name wins), and so is an
    alias two names share (``foo_bar`` and ``foo__bar``): guessing would call the wrong one.
    """
    real = set(names)
    aliases: dict[str, str] = {}
    shared: set[str] = set()
    for name in sorted(real):
        alias = camel_case(name)
        if alias == name or alias in real:
            continue
        if alias in aliases:
            shared.add(alias)
        aliases[alias] = name
    for alias in shared:
        del aliases[alias]
    return aliases
