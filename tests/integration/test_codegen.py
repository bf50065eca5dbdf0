"""``mainspring codegen``: Python hints as TypeScript, the generated files, the command, and
a real ``tsc`` run over front-end code written against the output (``tests/js/codegen``).

The tsc tests need ``node`` and ``npm``: without them they fail, they do not skip.
"""

from __future__ import annotations

import enum
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, NotRequired, Optional, TypedDict, Union

import pytest
from click.testing import CliRunner, Result

from mainspring import Id, Schema, StorageId, Table
from mainspring.cli import cli
from mainspring.codegen import TypeScript, describe, generate, write_files
from mainspring.registry import load_app
from mainspring.server.asgi import DEV_ENV, app_from_env
from tests.support.node_packages import node_tool, npm_ci
from tests.support.paths import APPS, EXAMPLE_APP, JS

APP = APPS / "codegen_app"
EXAMPLE = EXAMPLE_APP
TS_DIR = JS / "codegen"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own MAINSPRING_* variables must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith("MAINSPRING_"):
            monkeypatch.delenv(name)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


# -- the type mapping -------------------------------------------------------------------------


class Shape(TypedDict):
    kind: Literal["circle", "square"]
    size: float
    note: NotRequired[str | None]


class Partial(TypedDict, total=False):
    a: int


class Level(enum.Enum):
    LOW = 1
    HIGH = 2


class Gadgets(Table):
    name: str


_schema = Schema(gadgets=Gadgets)  # names Gadgets "gadgets"


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        (str, "string"),
        (int, "number"),
        (float, "number"),
        (bool, "boolean"),
        (None, "null"),
        (type(None), "null"),
        (bytes, "ArrayBuffer"),
        (Any, "any"),
        (list[int], "Array<number>"),
        (list, "Array<any>"),
        (tuple[int, ...], "Array<number>"),
        (tuple[str, bool], "[string, boolean]"),
        (set[str], "Array<string>"),
        (dict[str, float], "Record<string, number>"),
        (dict, "Record<string, any>"),
        (dict[Literal["a", "b"], int], 'Record<"a" | "b", number>'),
        (Literal["a", 1, True, None], '"a" | 1 | true | null'),
        (Optional[str], "string | null"),  # noqa: UP045 (the old spelling must work too)
        (Union[int, str], "number | string"),  # noqa: UP007
        (str | None, "string | null"),
        (list[int | None], "Array<number | null>"),
        (int | Any, "any"),
        (Id["items"], 'Id<"items">'),
        (Id[Gadgets], 'Id<"gadgets">'),
        (StorageId, 'Id<"_storage">'),
        (Shape, '{ kind: "circle" | "square"; size: number; note?: string | null }'),
        (Partial, "{ a?: number }"),
        (Level, "1 | 2"),
        (Gadgets, 'Doc<"gadgets">'),
        (list[Shape], 'Array<{ kind: "circle" | "square"; size: number; note?: string | null }>'),
    ],
)
def test_python_hints_as_typescript(hint: Any, expected: str) -> None:
    ts = TypeScript(tables={"gadgets"})
    assert ts.render(hint, "here") == expected
    assert ts.warnings == []


def test_hints_without_a_json_shape_are_any_with_a_warning() -> None:
    class Unnamed(Table):
        x: int

    ts = TypeScript(tables={"gadgets"})
    assert ts.render(datetime, "f(when)") == "any"
    assert ts.render(Id[Unnamed], "f(ref)") == "Id<string>"
    assert ts.render(Unnamed, "f(doc)") == "any"
    assert len(ts.warnings) == 3
    assert ts.warnings[0].startswith("f(when): no TypeScript type for")


def test_function_signatures_in_both_spellings() -> None:
    app = load_app(APP / "backend")
    ts = TypeScript(app.schema.tables if app.schema else ())
    save_point = app.registry.lookup("shapes:save_point", allow_internal=False)
    signature = describe(save_point, ts)
    point = "{ x: number; y: number; label?: string }"
    assert signature.args == f'{{ point: {point}; item_id: Id<"items"> }}'
    assert signature.camel_args == f'{{ point: {point}; itemId: Id<"items"> }}'
    assert signature.returns == point
    count_up = app.registry.lookup("nested/deep:count_up", allow_internal=False)
    assert describe(count_up, ts).camel_args == "{ startAt?: number }"
    untyped = app.registry.lookup("shapes:untyped", allow_internal=False)
    assert describe(untyped, ts).args == "{ value: any; when: any }"
    assert ts.warnings == [
        "shapes:untyped(when): no TypeScript type for <class 'datetime.datetime'>, using any"
    ]


# -- the generated files ----------------------------------------------------------------------


def _declared(text: str) -> set[str]:
    return set(re.findall(r"^\s*(\w+): FunctionReference<", text, re.MULTILINE))


def test_generated_api_declares_python_names_and_their_aliases() -> None:
    generated = generate(load_app(APP / "backend"))
    assert sorted(generated.files) == ["api.d.ts", "api.js", "dataModel.d.ts"]
    api_js = generated.files["api.js"]
    assert 'import { anyApi } from "convex/server";' in api_js
    assert "export const api = anyApi;" in api_js and "export const internal = anyApi;" in api_js
    api_ts = generated.files["api.d.ts"]
    public, internal = api_ts.split("export declare const internal")
    assert {"save_point", "savePoint", "count_up", "countUp", "getValue", "get_value"} <= (
        _declared(public)
    )
    # foo_bar and foo__bar share "fooBar": it names neither, so it is not declared.
    assert "fooBar" not in _declared(public)
    assert "secret_step" not in _declared(public)
    assert _declared(internal) == {"secret_step", "secretStep"}
    assert public.count("getValue:") == 1
    assert '"mutation", "internal", { jobName: string }, null>' in internal
    assert "nested: {\n    deep: {" in public
    data_model = generated.files["dataModel.d.ts"]
    assert '    picture?: Id<"_storage">;' in data_model
    assert '    kind: "tool" | "part";' in data_model
    assert generated.warnings == [
        "shapes:untyped(when): no TypeScript type for <class 'datetime.datetime'>, using any"
    ]


def test_generation_is_deterministic() -> None:
    first = generate(load_app(APP / "backend")).files
    second = generate(load_app(APP / "backend")).files
    assert first == second


def test_the_example_app_generates_without_warnings() -> None:
    generated = generate(load_app(EXAMPLE / "backend"))
    assert generated.warnings == []
    api_ts = generated.files["api.d.ts"]
    assert (
        'saveFile: FunctionReference<"mutation", "public", { storageId: Id<"_storage">; '
        'name: string; type: string; size: number }, Id<"files">>;'
    ) in api_ts
    assert 'generateUploadUrl: FunctionReference<"mutation", "public", Record<string, never>' in (
        api_ts
    )
    assert "listWithUrls: FunctionReference<" in api_ts
    assert "list_with_urls: FunctionReference<" in api_ts


def test_write_files_leaves_unchanged_files_alone(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    assert write_files(out, {"a.ts": "one\n", "b.ts": "two\n"}) == {"a.ts": True, "b.ts": True}
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    os.utime(out / "a.ts", ns=(1, 1))  # an old mtime: a rewrite would be visible
    assert write_files(out, {"a.ts": "one\n", "b.ts": "2\n"}) == {"a.ts": False, "b.ts": True}
    assert (out / "a.ts").stat().st_mtime_ns == 1
    assert (out / "b.ts").read_text() == "2\n"
    assert sorted(p.name for p in out.iterdir()) == sorted(before)  # no temporary files left


# -- the command ------------------------------------------------------------------------------


@pytest.fixture
def app_copy(tmp_path: Path) -> Path:
    target = tmp_path / "app"
    shutil.copytree(APP, target, ignore=shutil.ignore_patterns("__pycache__", "_generated"))
    return target


def test_command_writes_into_the_functions_folder_by_default(app_copy: Path) -> None:
    result = invoke("codegen", "--app", str(app_copy))
    assert result.exit_code == 0, result.output
    generated = app_copy / "backend" / "_generated"
    assert sorted(p.name for p in generated.iterdir()) == ["api.d.ts", "api.js", "dataModel.d.ts"]
    assert result.stdout.count("wrote") == 3
    assert "datetime" in result.stderr  # the warning
    again = invoke("codegen", "--app", str(app_copy))
    assert again.stdout.count("unchanged") == 3 and "wrote" not in again.stdout
    # The generated folder is not part of the app: loading it still works.
    assert len(load_app(app_copy / "backend").registry) > 0


def test_command_out_option_and_environment(app_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "web" / "src" / "convex"
    result = invoke("codegen", "--app", str(app_copy), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert (out / "api.d.ts").is_file()
    env_out = tmp_path / "from-env"
    result = CliRunner().invoke(
        cli,
        ["codegen"],
        env={"MAINSPRING_APP_DIR": str(app_copy), "MAINSPRING_CODEGEN_OUT": str(env_out)},
    )
    assert result.exit_code == 0, result.output
    assert (env_out / "api.js").is_file()


def test_dev_rewrites_the_generated_files_it_finds(
    app_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    functions = app_copy / "backend"
    monkeypatch.setenv("MAINSPRING_APP_DIR", str(app_copy))
    monkeypatch.setenv(DEV_ENV, "1")
    app_from_env()
    assert not (functions / "_generated").exists()  # not asked for: nothing written
    assert invoke("codegen", "--app", str(app_copy)).exit_code == 0
    (functions / "added.py").write_text(
        "from mainspring import query\n\n\n@query\nasync def fresh(ctx, n: int) -> int:\n"
        "    return n\n"
    )
    app_from_env()  # what a reload of `mainspring dev` runs
    assert "fresh: FunctionReference<" in (functions / "_generated" / "api.d.ts").read_text()
    elsewhere = app_copy / "web"
    monkeypatch.setenv("MAINSPRING_CODEGEN_OUT", str(elsewhere))
    app_from_env()
    assert (elsewhere / "api.js").is_file()
    monkeypatch.setenv(DEV_ENV, "0")  # serve: never writes
    (functions / "added.py").unlink()
    app_from_env()
    assert "fresh" in (elsewhere / "api.d.ts").read_text()


def test_command_reports_a_broken_app(app_copy: Path) -> None:
    (app_copy / "backend" / "broken.py").write_text("import no_such_module_here\n")
    result = CliRunner().invoke(cli, ["codegen", "--app", str(app_copy)])
    assert result.exit_code == 1
    assert "the app failed to load" in result.output
    assert "no_such_module_here" in result.output
    assert not (app_copy / "backend" / "_generated").exists()


# -- tsc over front-end code ------------------------------------------------------------------

_PURPOSE = "the codegen TypeScript check"


@pytest.fixture(scope="module")
def ts_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """check.ts and friends next to the example app's and the test app's generated files."""
    npm_ci(TS_DIR, TS_DIR / "node_modules" / "@types" / "react" / "package.json", _PURPOSE)
    project = tmp_path_factory.mktemp("ts")
    for source in [*TS_DIR.glob("*.ts"), *TS_DIR.glob("tsconfig*.json")]:
        shutil.copy(source, project / source.name)
    (project / "node_modules").symlink_to(TS_DIR / "node_modules", target_is_directory=True)
    for app, folder in ((EXAMPLE, "example"), (APP, "app")):
        result = invoke("codegen", "--app", str(app), "--out", str(project / folder / "_generated"))
        assert result.exit_code == 0, result.output
    yield project


def _tsc(project: Path, config: str) -> subprocess.CompletedProcess[str]:
    tsc = TS_DIR / "node_modules" / "typescript" / "bin" / "tsc"
    return subprocess.run(
        [node_tool("node", _PURPOSE), str(tsc), "-p", config, "--pretty", "false"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.node
def test_front_end_code_type_checks(ts_project: Path) -> None:
    result = _tsc(ts_project, "tsconfig.json")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.node
def test_misuse_fails_to_type_check(ts_project: Path) -> None:
    result = _tsc(ts_project, "tsconfig.fail.json")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    lines = (ts_project / "fail.ts").read_text().splitlines()
    # Each "// FAIL <what>" comment marks the line after it, which tsc must report.
    marked = {
        line.split("FAIL", 1)[1].split(":")[0].strip(): number + 2
        for number, line in enumerate(lines)
        if line.strip().startswith("// FAIL")
    }
    assert len(marked) == 4
    for what, number in marked.items():
        assert re.search(rf"^fail\.ts\({number},\d+\): error TS\d+", output, re.MULTILINE), (
            f"{what} (line {number}) was not reported:\n{output}"
        )
    assert "Type 'string' is not assignable to type 'number'" in output
    assert "'storage_id' does not exist" in output
    assert "'noSuchFunction' does not exist" in output
    reported = set(re.findall(r"^fail\.ts\((\d+),", output, re.MULTILINE))
    assert reported == {str(n) for n in marked.values()}, output
