"""Node.js tools and npm packages the tests need: found or installed, never skipped."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

__all__ = ["node_tool", "npm_ci"]


def node_tool(name: str, purpose: str) -> str:
    """The path of ``node`` or ``npm``; the test fails (never skips) when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; {purpose} needs Node.js and npm", pytrace=False)
    return path


def npm_ci(package_dir: Path, installed_marker: Path, purpose: str) -> None:
    """Run ``npm ci`` in ``package_dir`` unless ``installed_marker`` already exists."""
    if installed_marker.exists():
        return
    result = subprocess.run(
        [node_tool("npm", purpose), "ci", "--no-audit", "--no-fund"],
        cwd=package_dir,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        pytest.fail(
            f"`npm ci` in {package_dir} failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}",
            pytrace=False,
        )
