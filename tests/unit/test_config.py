"""Settings precedence (flag > MAINSPRING_* variable > mainspring.toml > default) and checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from mainspring.config import SETTINGS, load_settings, parse_size
from mainspring.errors import ConfigurationError


@pytest.fixture
def app(tmp_path: Path) -> Path:
    (tmp_path / "backend").mkdir()
    return tmp_path


def write_toml(app: Path, text: str) -> None:
    (app / "mainspring.toml").write_text(text, encoding="utf-8")


def test_defaults_keep_the_deployment_under_dot_mainspring(app: Path) -> None:
    settings = load_settings({"app_dir": str(app)}, env={})
    assert settings.app_dir == app.resolve()
    assert settings.functions_dir == app.resolve() / "backend"
    assert settings.db_url == str(app.resolve() / ".mainspring" / "db.sqlite3")
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 3210, 1)
    assert (settings.log_level, settings.sqlite_synchronous) == ("info", "full")
    assert settings.max_request_body == 8 * 1024 * 1024
    assert settings.admin_key is None
    assert settings.url == "http://127.0.0.1:3210"
    assert settings.sources["port"] == "default"
    assert settings.check_functions_dir() == settings.functions_dir


def test_app_dir_defaults_to_the_current_directory(
    app: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(app)
    assert load_settings(env={}).app_dir == app.resolve()
    assert (
        load_settings(env={"MAINSPRING_APP_DIR": str(app / "backend")}).app_dir
        == (app / "backend").resolve()
    )


def test_flag_beats_env_beats_toml_beats_default(app: Path) -> None:
    flags = {"app_dir": str(app)}
    assert load_settings(flags, env={}).port == 3210
    write_toml(app, "port = 4000\n")
    settings = load_settings(flags, env={})
    assert settings.port == 4000
    assert settings.sources["port"] == str(app.resolve() / "mainspring.toml")
    settings = load_settings(flags, env={"MAINSPRING_PORT": "5000"})
    assert (settings.port, settings.sources["port"]) == (5000, "MAINSPRING_PORT")
    settings = load_settings({**flags, "port": "6000"}, env={"MAINSPRING_PORT": "5000"})
    assert (settings.port, settings.sources["port"]) == (6000, "--port")
    # An empty variable counts as unset, as in most tools.
    assert load_settings(flags, env={"MAINSPRING_PORT": ""}).port == 4000


def test_every_setting_reads_its_environment_variable(app: Path) -> None:
    env = {
        "MAINSPRING_APP_DIR": str(app),
        "MAINSPRING_FUNCTIONS_DIR": "src",
        "MAINSPRING_DB_URL": "postgresql://u:secret@db.example:5432/prod",
        "MAINSPRING_HOST": "0.0.0.0",
        "MAINSPRING_PORT": "8080",
        "MAINSPRING_WORKERS": "4",
        "MAINSPRING_LOG_LEVEL": "WARNING",
        "MAINSPRING_SQLITE_SYNCHRONOUS": "normal",
        "MAINSPRING_MAX_REQUEST_BODY": "1MiB",
        "MAINSPRING_ADMIN_KEY": "ms_admin_x",
        "MAINSPRING_SITE_URL": "https://app.example.com",
        "MAINSPRING_MAX_UPLOAD_SIZE": "2GiB",
        "MAINSPRING_STORAGE_DIR": "/srv/files",
        "MAINSPRING_S3_BUCKET": "media",
        "MAINSPRING_S3_ENDPOINT": "https://r2.example.com",
        "MAINSPRING_S3_REGION": "auto",
        "MAINSPRING_SCHEDULER": "off",
        "MAINSPRING_SCHEDULER_CONCURRENCY": "8",
        "MAINSPRING_SCHEDULER_LEASE": "30s",
        "MAINSPRING_SCHEDULER_POLL": "250ms",
        "MAINSPRING_SCHEDULED_RETENTION": "2d",
        "MAINSPRING_WORKPOOL_CONCURRENCY": "12",
        "MAINSPRING_WORKPOOL_RETENTION": "3h",
    }
    assert {s.envvar for s in SETTINGS.values()} == set(env)
    settings = load_settings(env=env)
    assert settings.functions_dir == app.resolve() / "src"
    assert settings.is_postgres and settings.db_url.endswith("/prod")
    assert settings.describe_db() == "postgresql://u:***@db.example:5432/prod"
    assert (settings.host, settings.port, settings.workers) == ("0.0.0.0", 8080, 4)
    assert settings.url == "http://127.0.0.1:8080"
    assert (settings.log_level, settings.sqlite_synchronous) == ("warning", "normal")
    assert (settings.max_request_body, settings.admin_key) == (1 << 20, "ms_admin_x")
    assert (settings.public_url, settings.max_upload_size) == ("https://app.example.com", 2 << 30)
    assert (settings.storage_dir, settings.s3_bucket) == (Path("/srv/files"), "media")
    assert (settings.s3_endpoint, settings.s3_region) == ("https://r2.example.com", "auto")
    assert (settings.scheduler, settings.scheduler_concurrency) == ("off", 8)
    assert (settings.scheduler_lease, settings.scheduler_poll) == (30_000, 250)
    assert settings.scheduled_retention == 2 * 86_400_000
    assert (settings.workpool_concurrency, settings.workpool_retention) == (12, 3 * 3_600_000)
    assert all(source.startswith("MAINSPRING_") for source in settings.sources.values())


def test_environ_round_trips(app: Path) -> None:
    write_toml(app, 'functions_dir = "backend"\nworkers = 3\nlog_level = "debug"\n')
    settings = load_settings({"app_dir": str(app), "port": 9999}, env={})
    again = load_settings(env=settings.environ())
    assert again == settings


def test_relative_paths_are_relative_to_the_app(app: Path) -> None:
    write_toml(app, 'db_url = "data/app.sqlite3"\nfunctions_dir = "backend"\n')
    settings = load_settings({"app_dir": str(app)}, env={})
    assert settings.db_url == str(app.resolve() / "data" / "app.sqlite3")
    url = load_settings({"app_dir": str(app), "db_url": "sqlite:///x.db"}, env={}).db_url
    assert url == str(app.resolve() / "x.db")
    absolute = load_settings({"app_dir": str(app), "db_url": "sqlite:////tmp/a.db"}, env={})
    assert absolute.db_url == "/tmp/a.db"


@pytest.mark.parametrize(
    ("flags", "env", "toml", "message"),
    [
        ({"port": "abc"}, {}, "", r"invalid port 'abc' \(from --port\): expected an integer"),
        ({}, {"MAINSPRING_PORT": "70000"}, "", r"\(from MAINSPRING_PORT\): must be between"),
        ({}, {}, "port = 0\n", r"invalid port 0 \(from .*mainspring.toml\)"),
        ({}, {"MAINSPRING_WORKERS": "0"}, "", r"invalid workers '0' \(from MAINSPRING_WORKERS\)"),
        ({"log_level": "loud"}, {}, "", r"invalid log_level 'loud' .*expected one of critical"),
        ({}, {}, 'sqlite_synchronous = "off"\n', r"sqlite_synchronous 'off' .*full, normal"),
        ({}, {"MAINSPRING_MAX_REQUEST_BODY": "lots"}, "", r"max_request_body 'lots'"),
        ({}, {}, "host = 5\n", r"invalid host 5 \(from .*mainspring.toml\): expected a non-empty"),
        ({"db_url": "mysql://x"}, {}, "", r"invalid db_url 'mysql://x' \(from --db\)"),
        ({}, {"MAINSPRING_DB_URL": ":memory:"}, "", r"db_url ':memory:' .*in-memory database"),
        ({}, {}, "colour = 1\n", r"unknown setting 'colour' \(known: functions_dir, db_url"),
        ({}, {}, 'admin_key = "k"\n', r"unknown setting 'admin_key'"),
        ({}, {}, "port = \n", r"mainspring.toml: Invalid value"),
    ],
)
def test_invalid_settings_name_the_setting_and_its_source(
    app: Path, flags: dict[str, str], env: dict[str, str], toml: str, message: str
) -> None:
    if toml:
        write_toml(app, toml)
    with pytest.raises(ConfigurationError, match=message):
        load_settings({"app_dir": str(app), **flags}, env=env)


def test_missing_folders_are_clear_errors(app: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"app folder .*nope.* \(app_dir from --app\)"):
        load_settings({"app_dir": str(app / "nope")}, env={})
    settings = load_settings({"app_dir": str(app)}, env={"MAINSPRING_FUNCTIONS_DIR": "fns"})
    with pytest.raises(ConfigurationError, match=r"fns.* does not exist \(functions_dir from MA"):
        settings.check_functions_dir()


def test_open_database_honours_sqlite_synchronous(app: Path) -> None:
    settings = load_settings({"app_dir": str(app), "sqlite_synchronous": "normal"}, env={})
    database = settings.open_database()
    assert database.dialect == "sqlite"
    assert getattr(database, "synchronous", None) == "NORMAL"


@pytest.mark.parametrize(
    ("text", "size"),
    [
        (2048, 2048),
        ("2048", 2048),
        ("512KiB", 512 * 1024),
        ("16MiB", 16 << 20),
        ("10MB", 10_000_000),
        ("1 GiB", 1 << 30),
        ("3k", 3000),
        ("7b", 7),
    ],
)
def test_parse_size(text: str | int, size: int) -> None:
    assert parse_size(text) == size


def test_parse_size_refuses_nonsense() -> None:
    for text in ("", "MiB", "-1", "1.5MB", "12 parsecs"):
        with pytest.raises(ValueError):
            parse_size(text)
