"""The public surface is exactly ``mainspring.__all__``: sorted, importable, documented."""

from __future__ import annotations

import importlib
import inspect

import mainspring


def test_all_is_sorted_and_unique() -> None:
    names = list(mainspring.__all__)
    # Constants, then classes, then functions: the order ruff's RUF022 keeps.
    assert names == sorted(
        names, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n)
    )
    assert len(set(names)) == len(names)


def test_every_public_name_exists_and_has_a_docstring() -> None:
    for name in mainspring.__all__:
        obj = getattr(mainspring, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"mainspring.{name} has no docstring"


def test_no_accidental_exports() -> None:
    public = {n for n in vars(mainspring) if not n.startswith("_")} - {"annotations"}
    modules = {n for n in public if inspect.ismodule(getattr(mainspring, n))}
    assert public - modules - set(mainspring.__all__) == set()


def test_submodules_with_public_entry_points_import() -> None:
    for module in ("mainspring.testing", "mainspring.client", "mainspring.db"):
        assert importlib.import_module(module).__all__
