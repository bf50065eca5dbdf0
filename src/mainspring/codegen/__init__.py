"""``mainspring codegen``: TypeScript types of an app's functions for its front end.

Writes ``api.js`` (Convex's ``anyApi``), ``api.d.ts`` (each function as a
``FunctionReference`` typed from its Python hints) and ``dataModel.d.ts`` (``Id`` and
``Doc`` from the schema), so ``useQuery(api.files.listWithUrls)`` type-checks::

    generated = generate(load_app("backend"))
    write_files(Path("backend/_generated"), generated.files)
"""

from __future__ import annotations

from .modules import Signature, describe
from .typescript import TypeScript
from .writer import DEFAULT_OUT, OUT_ENV, Generated, generate, write_files

__all__ = [
    "DEFAULT_OUT",
    "OUT_ENV",
    "Generated",
    "Signature",
    "TypeScript",
    "describe",
    "generate",
    "write_files",
]
