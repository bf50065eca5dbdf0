"""The ``mainspring`` command, driven in-process with click's CliRunner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from mainspring.cli import cli
from mainspring.cli.init import TEMPLATES
from tests.support.paths import EXAMPLE_APP

EXAMPLE = EXAMPLE_APP


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own MAINSPRING_* variables must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith("MAINSPRING_"):
            monkeypatch.delenv(name)


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Path]:
    """A fresh app made by ``mainspring init``."""
    result = invoke("init", str(tmp_path / "app"))
    assert result.exit_code == 0, result.output
    yield tmp_path / "app"


def test_every_option_names_its_environment_variable_in_help() -> None:
    assert isinstance(cli, click.Group)
    for name, command in cli.commands.items():
        help_text = invoke(name, "--help").output
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                assert isinstance(param.envvar, str), f"{name} {param.opts}"
                assert param.envvar.startswith("MAINSPRING_")
                assert param.envvar in help_text, f"{name} --help lacks {param.envvar}"


def test_version_and_python_dash_m() -> None:
    assert "mainspring, version" in invoke("--version").output
    done = subprocess.run(
        [sys.executable, "-m", "mainspring", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "admin-key" in done.stdout


def test_init_scaffolds_and_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "new"
    result = invoke("init", str(target))
    assert result.exit_code == 0
    for name, text in TEMPLATES.items():
        assert (target / name).read_text() == text
    assert ".mainspring/" in (target / ".gitignore").read_text()
    (target / "backend" / "tasks.py").write_text("# mine\n")
    again = invoke("init", str(target))
    assert again.exit_code == 1
    assert "already exist" in again.stderr and "tasks.py" in again.stderr
    assert (target / "backend" / "tasks.py").read_text() == "# mine\n"


def test_init_appends_to_an_existing_gitignore(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("node_modules/")
    assert invoke("init", str(tmp_path)).exit_code == 0
    assert (tmp_path / ".gitignore").read_text().startswith("node_modules/\n")
    assert (tmp_path / ".gitignore").read_text().count(".mainspring/") == 1


def test_run_prints_the_value_as_json_and_logs_to_stderr(app: Path) -> None:
    added = invoke("run", "--app", str(app), "tasks:add", '{"text": "Write docs"}')
    assert added.exit_code == 0, added.output
    task_id = json.loads(added.stdout)
    assert "[LOG] adding 'Write docs'" in added.stderr
    listed = invoke("run", "tasks:list", "--app", str(app))
    assert [t["_id"] for t in json.loads(listed.stdout)] == [task_id]
    assert (app / ".mainspring" / "db.sqlite3").exists()


def test_run_reads_settings_from_the_environment(app: Path, tmp_path: Path) -> None:
    env = {"MAINSPRING_APP_DIR": str(app), "MAINSPRING_DB_URL": str(tmp_path / "other.db")}
    assert invoke("run", "tasks:add", '{"text": "x"}', env=env).exit_code == 0
    assert (tmp_path / "other.db").exists()
    assert not (app / ".mainspring").exists()


def test_run_may_call_internal_functions(tmp_path: Path) -> None:
    result = invoke("run", "--app", str(EXAMPLE), "--db", str(tmp_path / "x.db"), "notes:count")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ("{oops", "'{oops' is not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"a": {"$bytes": "!"}}', "$bytes must hold base64"),
    ],
)
def test_run_refuses_bad_args_json(app: Path, args: str, message: str) -> None:
    result = invoke("run", "--app", str(app), "tasks:list", args)
    assert result.exit_code == 2
    assert "Invalid value for ARGS" in result.stderr and message in result.stderr


def test_run_errors_exit_1_with_a_clear_message(app: Path) -> None:
    missing = invoke("run", "--app", str(app), "tasks:nope")
    assert missing.exit_code == 1
    assert "Could not find public function for 'tasks:nope'" in missing.stderr
    invalid = invoke("run", "--app", str(app), "tasks:add", '{"text": 3}')
    assert invalid.exit_code == 1 and "argument `text`" in invalid.stderr
    task = json.loads(invoke("run", "--app", str(app), "tasks:add", '{"text": "x"}').stdout)
    invoke("run", "--app", str(app), "tasks:complete", json.dumps({"id": task}))
    assert json.loads(invoke("run", "--app", str(app), "tasks:list").stdout)[0]["done"] is True


def test_run_shows_app_error_data(tmp_path: Path) -> None:
    db = str(tmp_path / "x.db")
    created = invoke("run", "--app", str(EXAMPLE), "--db", db, "users:create", '{"name": "A"}')
    assert created.exit_code == 0, created.stderr
    ada = json.loads(created.stdout)
    again = invoke("run", "--app", str(EXAMPLE), "--db", db, "users:create", '{"name": "A"}')
    assert again.exit_code == 1
    assert 'users:create raised AppError: {"code": "NAME_TAKEN", "name": "A"}' in again.stderr
    assert ada.startswith("0")


def test_run_shows_uncaught_exceptions_with_their_log_lines(app: Path) -> None:
    (app / "backend" / "boom.py").write_text(
        "from mainspring import query\n\n"
        "@query\nasync def fail(ctx) -> None:\n    print('about to fail')\n    1 / 0\n"
    )
    result = invoke("run", "--app", str(app), "boom:fail")
    assert result.exit_code == 1
    assert "[LOG] about to fail" in result.stderr
    assert "boom:fail failed with an uncaught exception" in result.stderr
    assert "ZeroDivisionError" in result.stderr


def test_data_lists_tables_and_documents(app: Path) -> None:
    missing = invoke("data", "--app", str(app))
    assert missing.exit_code == 1 and "no database at" in missing.stderr
    for text in ("first", "second", "third"):
        invoke("run", "--app", str(app), "tasks:add", json.dumps({"text": text}))
    tables = invoke("data", "--app", str(app))
    assert tables.exit_code == 0
    rows = {line.split()[0]: line.split()[1] for line in tables.stdout.splitlines()[1:]}
    assert rows["tasks"] == "3" and rows["_storage"] == "0"
    counts = json.loads(invoke("data", "--app", str(app), "--json").stdout)
    assert counts["tasks"] == 3
    shown = invoke("data", "tasks", "--app", str(app), "--limit", "2")
    assert "third" in shown.stdout and "second" in shown.stdout and "first" not in shown.stdout
    documents = json.loads(invoke("data", "tasks", "--app", str(app), "--json").stdout)
    assert [d["text"] for d in documents] == ["third", "second", "first"]
    limited = invoke(
        "data",
        "tasks",
        "--json",
        env={"MAINSPRING_APP_DIR": str(app), "MAINSPRING_DATA_LIMIT": "1"},
    )
    assert len(json.loads(limited.stdout)) == 1
    unknown = invoke("data", "nope", "--app", str(app))
    assert unknown.exit_code == 1 and "no table 'nope' (tables: " in unknown.stderr


def test_admin_key_is_stable_and_overridable(app: Path) -> None:
    first = invoke("admin-key", "--app", str(app))
    assert first.exit_code == 0 and first.stdout.startswith("ms_admin_")
    assert invoke("admin-key", "--app", str(app)).stdout == first.stdout
    provisioned = invoke("admin-key", "--app", str(app), env={"MAINSPRING_ADMIN_KEY": "ms_k"})
    assert provisioned.stdout.strip() == "ms_k"


def test_serve_reports_configuration_errors_without_starting(app: Path) -> None:
    bad_port = invoke("serve", "--app", str(app), env={"MAINSPRING_PORT": "http"})
    assert bad_port.exit_code == 1
    assert "invalid port 'http' (from MAINSPRING_PORT): expected an integer" in bad_port.stderr
    no_functions = invoke("dev", "--app", str(app), "--functions", "missing")
    assert no_functions.exit_code == 1
    assert "(functions_dir from --functions)" in no_functions.stderr
    (app / "backend" / "broken.py").write_text("import does_not_exist\n")
    broken = invoke("serve", "--app", str(app))
    assert broken.exit_code == 1
    assert "the app failed to load" in broken.stderr and "does_not_exist" in broken.stderr
