"""``mainspring storage ls | upload | download | rm``: in-process, and against a live server
with ``--url`` and the admin key (upload through an upload URL, download through a serving
URL, both streamed)."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner, Result

from mainspring.cli import cli
from tests.support.storage_helpers import storage_server

MiB = 1024 * 1024


def _app(tmp_path: Path) -> Path:
    app_dir = tmp_path / "app"
    (app_dir / "backend").mkdir(parents=True)
    (app_dir / "backend" / "notes.py").write_text(
        "from mainspring import query\n\n@query\nasync def ping(ctx) -> str:\n    return 'pong'\n"
    )
    return app_dir


def _round_trip(tmp_path: Path, invoke: object, extra: list[str]) -> None:
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(cli, ["storage", *args, *extra], env=invoke)  # type: ignore[arg-type]

    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 * MiB))  # above the progress-bar threshold
    uploaded = run("upload", str(big), "--content-type", "application/x-test")
    assert uploaded.exit_code == 0, uploaded.output
    storage_id = uploaded.stdout.strip().splitlines()[-1]

    listed = run("ls")
    assert listed.exit_code == 0, listed.output
    assert storage_id in listed.stdout and "application/x-test" in listed.stdout
    assert "9.0 MiB" in listed.stdout

    target = tmp_path / "out.bin"
    downloaded = run("download", storage_id, "-o", str(target))
    assert downloaded.exit_code == 0, downloaded.output
    assert target.read_bytes() == big.read_bytes()

    removed = run("rm", storage_id)
    assert removed.exit_code == 0 and "Deleted" in removed.stdout, removed.output
    assert storage_id not in run("ls").stdout
    missing = run("download", storage_id, "-o", str(target))
    assert missing.exit_code == 1 and "no stored file" in missing.output
    bad = run("rm", "not-an-id")
    assert bad.exit_code == 2 and "not a storage id" in bad.output


def test_storage_commands_in_process(tmp_path: Path) -> None:
    env = {"MAINSPRING_APP_DIR": str(_app(tmp_path))}
    _round_trip(tmp_path, env, [])


def test_storage_commands_against_a_live_server(database_url: str, tmp_path: Path) -> None:
    with storage_server(database_url, tmp_path, max_upload_bytes=64 * MiB) as server:
        env = {"MAINSPRING_APP_DIR": str(_app(tmp_path))}
        _round_trip(tmp_path, env, ["--url", server.url, "--admin-key", server.live.admin_key])
        assert server.blob_files() == []
