"""Where the tests' files are, whatever the depth of the test that asks."""

from __future__ import annotations

from pathlib import Path

__all__ = ["APPS", "EXAMPLE_APP", "JS", "REPO", "TESTS"]

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
EXAMPLE_APP = REPO / "examples" / "app"
APPS = TESTS / "apps"  # the fixture apps
JS = TESTS / "js"  # the node projects (each with its package-lock.json)
