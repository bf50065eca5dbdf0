"""``mainspring scheduled ls | cancel`` against a local app's database."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mainspring.cli import cli
from tests.support.paths import APPS

APP = APPS / "scheduler_app"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MAINSPRING_"):
            monkeypatch.delenv(name)


def invoke(app: Path, *args: str) -> Result:
    result = CliRunner().invoke(cli, [*args, "--app", str(app)], catch_exceptions=False)
    return result


def test_ls_filters_and_cancel(tmp_path: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns("__pycache__", ".mainspring"))
    ran = invoke(app, "run", "jobs:schedule", '{"function": "jobs:record", "args": {"tag": "a"}}')
    assert ran.exit_code == 0, ran.output
    job = json.loads(ran.stdout)
    ran = invoke(
        app, "run", "jobs:schedule", '{"function": "jobs:act", "args": {"tag": "b"}, "delay": 5}'
    )
    other = json.loads(ran.stdout)

    wide = {"COLUMNS": "200"}
    listed = CliRunner().invoke(cli, ["scheduled", "ls", "--app", str(app)], env=wide)
    assert listed.exit_code == 0, listed.output
    assert job in listed.output and "jobs:record" in listed.output and "pending" in listed.output
    rows = json.loads(invoke(app, "scheduled", "ls", "--json", "--function", "jobs:act").stdout)
    assert [r["_id"] for r in rows] == [other]
    assert rows[0]["args"] == [{"tag": "b"}] and rows[0]["state"] == {"kind": "pending"}
    assert (
        "no scheduled functions match" in invoke(app, "scheduled", "ls", "--state", "failed").output
    )

    canceled = invoke(app, "scheduled", "cancel", job)
    assert canceled.exit_code == 0 and f"Canceled {job}" in canceled.output
    rows = json.loads(invoke(app, "scheduled", "ls", "--json", "--state", "canceled").stdout)
    assert [r["_id"] for r in rows] == [job]
    again = invoke(app, "scheduled", "cancel", job)
    assert "already finished (canceled)" in again.output
    bad = CliRunner().invoke(cli, ["scheduled", "cancel", "nope", "--app", str(app)])
    assert bad.exit_code == 1 and "not an id of _scheduled_functions" in bad.output
