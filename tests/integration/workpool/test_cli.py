"""``mainspring jobs ls | pools | cancel | retry | parallelism`` against a local app's database."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mainspring.cli import cli
from tests.support.paths import APPS

APP = APPS / "workpool_app"
WIDE = {"COLUMNS": "220"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MAINSPRING_"):
            monkeypatch.delenv(name)


def invoke(app: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--app", str(app)], env=WIDE, catch_exceptions=False)


def test_ls_pools_cancel_retry_and_parallelism(tmp_path: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(APP, app, ignore=shutil.ignore_patterns("__pycache__", ".mainspring"))
    ran = invoke(app, "run", "work:enqueue", '{"pool": "plain", "tag": "a"}')
    assert ran.exit_code == 0, ran.output
    first = json.loads(ran.stdout)
    second = json.loads(invoke(app, "run", "work:enqueue", '{"pool": "flaky", "tag": "b"}').stdout)

    listed = invoke(app, "jobs", "ls")
    assert listed.exit_code == 0, listed.output
    assert first in listed.output and "work:flaky" in listed.output and "pending" in listed.output
    rows = json.loads(invoke(app, "jobs", "ls", "--json", "--pool", "flaky").stdout)
    assert [r["_id"] for r in rows] == [second]
    assert "no work items match" in invoke(app, "jobs", "ls", "--status", "running").output

    pools = json.loads(invoke(app, "jobs", "pools", "--json").stdout)
    assert {p["name"]: (p["maxParallelism"], p["pending"]) for p in pools} == {
        "flaky": (2, 1),
        "plain": (5, 1),
    }
    paused = invoke(app, "jobs", "parallelism", "plain", "0")
    assert paused.exit_code == 0 and "Pool plain: paused (was 5)" in paused.output
    assert "0 (paused)" in invoke(app, "jobs", "pools").output
    missing = CliRunner().invoke(cli, ["jobs", "parallelism", "nope", "1", "--app", str(app)])
    assert missing.exit_code == 1 and "no work pool 'nope'" in missing.output

    canceled = invoke(app, "jobs", "cancel", first)
    assert canceled.exit_code == 0 and f"Canceled {first} (it was pending)" in canceled.output
    assert "already finished" in invoke(app, "jobs", "cancel", first).output
    [row] = json.loads(invoke(app, "jobs", "ls", "--json", "--status", "finished").stdout)
    assert row["result"] == {"kind": "canceled"}

    retried = invoke(app, "jobs", "retry", first)
    assert retried.exit_code == 0, retried.output
    new_id = retried.output.split()[1]
    rows = json.loads(invoke(app, "jobs", "ls", "--json", "--status", "pending").stdout)
    assert new_id in [r["_id"] for r in rows]
    [copy] = [r for r in rows if r["_id"] == new_id]
    assert (copy["args"], copy["retryOf"], copy["onComplete"]) == (
        {"tag": "a", "fail_times": 0, "permanent": False},
        first,
        "work:done",
    )
    refused = CliRunner().invoke(cli, ["jobs", "retry", second, "--app", str(app)])
    assert refused.exit_code == 1 and "only failed or canceled items" in refused.output
    bad = CliRunner().invoke(cli, ["jobs", "cancel", "nope", "--app", str(app)])
    assert bad.exit_code == 1 and "not a work item id" in bad.output
