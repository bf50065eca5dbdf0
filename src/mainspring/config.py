"""Deployment settings: flag > ``MAINSPRING_*`` variable > ``mainspring.toml`` > default.

::

    settings = load_settings({"port": 8000})          # flags the user typed
    settings.port, settings.sources["port"]           # 8000, "--port"

Every setting has one row in :data:`SETTINGS` (its flag, its environment variable, its
``mainspring.toml`` key and its default), which the CLI turns into options and the README
documents. Relative paths (the functions folder, a SQLite file) are relative to the app
folder. The embedded default keeps the whole deployment under ``<app>/.mainspring/``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .db.base import Database
from .errors import ConfigurationError
from .lease.options import SCHEDULED_FUNCTIONS, WORK_ITEMS
from .storage.base import BlobStore
from .storage.service import DEFAULT_MAX_UPLOAD_BYTES

__all__ = ["CONFIG_FILE", "SETTINGS", "Setting", "Settings", "load_settings", "parse_size"]

CONFIG_FILE = "mainspring.toml"
STATE_DIR = ".mainspring"
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3}


def parse_size(text: str | int) -> int:
    """Bytes from ``1048576``, ``"512KiB"``, ``"16MiB"``, ``"10MB"`` (KB = 1000, KiB = 1024)."""
    if isinstance(text, int) and not isinstance(text, bool):
        return int(text)
    match = _SIZE.match(str(text))
    if match is None:
        raise ValueError("expected a size such as 1048576, 512KiB or 16MiB")
    number, unit = int(match[1]), (match[2] or "").lower()
    if unit.endswith("b") and unit != "b":
        unit = unit[:-1]
    if unit.endswith("i"):
        return number << (10 * ("kmg".index(unit[0]) + 1))
    return number * _UNITS[unit]


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a non-empty string")
    return value.strip()


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError("expected an integer")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError("expected an integer") from None
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        return number

    return parse


def _choice(*options: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return text

    return parse


def _url(value: Any) -> str:
    text = _text(value).rstrip("/")
    if not re.match(r"^https?://[^/\s]+(/\S*)?$", text):
        raise ValueError("expected an http:// or https:// URL")
    return text


def _size(value: Any) -> int:
    size = parse_size(value)
    if size < 1024:
        raise ValueError("must be at least 1024 bytes")
    return size


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$", re.IGNORECASE)
_DURATION_MS = {"ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3, "d": 86400e3}


def _duration(low_ms: float) -> Callable[[Any], float]:
    """Milliseconds from ``250ms``, ``10s``, ``5m``, ``12h``, ``7d`` or a plain number of ms."""

    def parse(value: Any) -> float:
        match = _DURATION.match(str(value))
        if match is None or isinstance(value, bool):
            raise ValueError("expected a duration such as 500ms, 10s, 5m, 12h or 7d")
        ms = float(match[1]) * _DURATION_MS[(match[2] or "ms").lower()]
        if ms < low_ms:
            raise ValueError(f"must be at least {low_ms:g} ms")
        return ms

    return parse


@dataclass(frozen=True)
class Setting:
    """One setting: where it can come from and how its text is checked."""

    name: str
    flag: str
    help: str
    default: Any
    parse: Callable[[Any], Any] = _text
    in_toml: bool = True  # secrets and the app folder itself are not read from the file

    @property
    def envvar(self) -> str:
        """``MAINSPRING_<NAME>``."""
        return "MAINSPRING_" + self.name.upper()


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("app_dir", "--app", "The app folder (holds mainspring.toml).", ".", in_toml=False),
        Setting(
            "functions_dir", "--functions", "Functions folder, relative to the app.", "backend"
        ),
        Setting(
            "db_url",
            "--db",
            "postgresql://… URL or SQLite file path (relative to the app).",
            f"{STATE_DIR}/db.sqlite3",
        ),
        Setting("host", "--host", "Interface to listen on.", "127.0.0.1"),
        Setting("port", "--port", "Port to listen on.", 3210, _integer(1, 65535)),
        Setting("workers", "--workers", "Server processes (serve only).", 1, _integer(1, 512)),
        Setting("log_level", "--log-level", "Server log level.", "info", _choice(*_LOG_LEVELS)),
        Setting(
            "sqlite_synchronous",
            "--sqlite-synchronous",
            "SQLite durability: full (every commit fsynced) or normal (WAL-safe, faster).",
            "full",
            _choice("full", "normal"),
        ),
        Setting(
            "max_request_body",
            "--max-request-body",
            "Largest accepted function-call body (e.g. 8MiB).",
            8 * 1024 * 1024,
            _size,
        ),
        Setting(
            "site_url",
            "--site-url",
            "The deployment's public base URL, for the file URLs it hands out "
            "(default: http://<host>:<port>).",
            None,
            _url,
        ),
        Setting(
            "max_upload_size",
            "--max-upload-size",
            "Largest file an upload URL accepts (e.g. 100MiB).",
            DEFAULT_MAX_UPLOAD_BYTES,
            _size,
        ),
        Setting(
            "storage_dir",
            "--storage-dir",
            "Folder for stored files (local blob store), relative to the app.",
            f"{STATE_DIR}/storage",
        ),
        Setting(
            "s3_bucket",
            "--s3-bucket",
            "Keep files in this S3-compatible bucket instead of the storage folder (keys from "
            "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).",
            None,
        ),
        Setting("s3_endpoint", "--s3-endpoint", "S3 endpoint URL (R2, MinIO...).", None, _url),
        Setting("s3_region", "--s3-region", "S3 region.", None),
        Setting(
            "scheduler",
            "--scheduler",
            "Run scheduled functions in this server process too (mainspring worker always does).",
            "on",
            _choice("on", "off"),
        ),
        Setting(
            "scheduler_concurrency",
            "--scheduler-concurrency",
            "Scheduled functions one process runs at once.",
            SCHEDULED_FUNCTIONS.concurrency,
            _integer(1, 10_000),
        ),
        Setting(
            "scheduler_lease",
            "--scheduler-lease",
            "How long a running scheduled function's process may stay silent before another "
            "process settles it (renewed every quarter of it).",
            SCHEDULED_FUNCTIONS.lease_ms,
            _duration(100.0),
        ),
        Setting(
            "scheduler_poll",
            "--scheduler-poll",
            "Safety-net polling interval for due scheduled functions (wake-ups are immediate).",
            SCHEDULED_FUNCTIONS.poll_ms,
            _duration(10.0),
        ),
        Setting(
            "scheduled_retention",
            "--scheduled-retention",
            "How long finished scheduled functions are kept before they are pruned.",
            SCHEDULED_FUNCTIONS.retention_ms,
            _duration(0.0),
        ),
        Setting(
            "workpool_concurrency",
            "--workpool-concurrency",
            "Work pool items one process runs at once (each pool's own cap holds across "
            "processes).",
            WORK_ITEMS.concurrency,
            _integer(1, 10_000),
        ),
        Setting(
            "workpool_retention",
            "--workpool-retention",
            "How long finished work pool items are kept before they are pruned.",
            WORK_ITEMS.retention_ms,
            _duration(0.0),
        ),
        Setting(
            "admin_key",
            "--admin-key",
            "The deployment's admin key (run --url uses it; a server uses it instead of the "
            "key kept in its database).",
            None,
            in_toml=False,
        ),
    )
}


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one deployment; ``sources`` says where each value came from."""

    app_dir: Path
    functions_dir: Path
    db_url: str
    host: str
    port: int
    workers: int
    log_level: str
    sqlite_synchronous: str
    max_request_body: int
    site_url: str | None
    max_upload_size: int
    storage_dir: Path
    s3_bucket: str | None
    s3_endpoint: str | None
    s3_region: str | None
    admin_key: str | None
    scheduler: str = "on"
    scheduler_concurrency: int = SCHEDULED_FUNCTIONS.concurrency
    scheduler_lease: float = SCHEDULED_FUNCTIONS.lease_ms
    scheduler_poll: float = SCHEDULED_FUNCTIONS.poll_ms
    scheduled_retention: float = SCHEDULED_FUNCTIONS.retention_ms
    workpool_concurrency: int = WORK_ITEMS.concurrency
    workpool_retention: float = WORK_ITEMS.retention_ms
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def url(self) -> str:
        """The base URL clients use (a wildcard host is reached on loopback)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(self.host, self.host)
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def public_url(self) -> str:
        """The base of the URLs the deployment hands out: ``site_url``, else ``url``."""
        return self.site_url or self.url

    def open_blob_store(self) -> BlobStore:
        """A (not yet opened) blob store: the S3 bucket if one is set, else the folder."""
        if self.s3_bucket:
            from .storage.s3 import S3BlobStore

            return S3BlobStore(
                self.s3_bucket,
                endpoint_url=self.s3_endpoint,
                region=self.s3_region,
                access_key_id=os.environ.get("AWS_ACCESS_KEY_ID"),
                secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
                session_token=os.environ.get("AWS_SESSION_TOKEN"),
            )
        from .storage.local import LocalBlobStore

        return LocalBlobStore(self.storage_dir)

    @property
    def is_postgres(self) -> bool:
        """True when the database is PostgreSQL."""
        return self.db_url.startswith(("postgresql://", "postgres://"))

    def describe_db(self) -> str:
        """The database for humans, without a password."""
        if self.is_postgres:
            return re.sub(r"//([^:/@]*):[^@]*@", r"//\1:***@", self.db_url)
        return f"SQLite {self.db_url}"

    def check_functions_dir(self) -> Path:
        """The functions folder, or a ConfigurationError naming where its setting came from."""
        if not self.functions_dir.is_dir():
            raise ConfigurationError(
                f"functions folder {str(self.functions_dir)!r} does not exist "
                f"(functions_dir from {self.sources.get('functions_dir', 'default')}); "
                "create it or run `mainspring init`"
            )
        return self.functions_dir

    def open_database(self) -> Database:
        """A (not yet opened) database backend for ``db_url``."""
        if self.is_postgres:
            from .db import open_database

            return open_database(self.db_url)
        from .db.sqlite import SqliteDatabase

        return SqliteDatabase(self.db_url, synchronous=self.sqlite_synchronous)

    def environ(self) -> dict[str, str]:
        """These settings as ``MAINSPRING_*`` variables (handed to server processes)."""
        out: dict[str, str] = {}
        for setting in SETTINGS.values():
            value = getattr(self, setting.name)
            if value is not None:
                out[setting.envvar] = str(value)
        return out


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"{path}: {exc}") from exc
    allowed = [s.name for s in SETTINGS.values() if s.in_toml]
    for key in data:
        if key not in allowed:
            raise ConfigurationError(
                f"{path}: unknown setting {key!r} (known: {', '.join(allowed)})"
            )
    return data


def _resolve_db(raw: str, app_dir: Path) -> str:
    if raw.startswith(("postgresql://", "postgres://")):
        return raw
    path = raw[len("sqlite:///") :] if raw.startswith("sqlite:///") else raw
    if "://" in path:
        raise ValueError("use postgresql://… or a SQLite file path (or sqlite:///path)")
    if path in ("", ":memory:") or path.startswith("file:"):
        raise ValueError("use a SQLite file path (an in-memory database is not shared)")
    return str((app_dir / Path(path).expanduser()).resolve())


def load_settings(
    flags: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Resolve every setting; ``flags`` holds only what was given on the command line."""
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    toml: dict[str, Any] = {}
    toml_name = CONFIG_FILE

    def pick(setting: Setting) -> None:
        if setting.name in flags:
            raw, source = flags[setting.name], setting.flag
        elif env.get(setting.envvar, "") != "":
            raw, source = env[setting.envvar], setting.envvar
        elif setting.name in toml:
            raw, source = toml[setting.name], toml_name
        else:
            values[setting.name], sources[setting.name] = setting.default, "default"
            return
        try:
            values[setting.name] = setting.parse(raw)
        except ValueError as exc:
            raise ConfigurationError(
                f"invalid {setting.name} {raw!r} (from {source}): {exc}"
            ) from None
        sources[setting.name] = source

    pick(SETTINGS["app_dir"])
    app_dir = Path(values["app_dir"]).expanduser().resolve()
    if not app_dir.is_dir():
        raise ConfigurationError(
            f"app folder {str(app_dir)!r} does not exist (app_dir from {sources['app_dir']})"
        )
    toml_name = str(app_dir / CONFIG_FILE)
    toml = _read_toml(app_dir / CONFIG_FILE)
    for setting in SETTINGS.values():
        if setting.name != "app_dir":
            pick(setting)
    try:
        db_url = _resolve_db(values["db_url"], app_dir)
    except ValueError as exc:
        raise ConfigurationError(
            f"invalid db_url {values['db_url']!r} (from {sources['db_url']}): {exc}"
        ) from None
    return Settings(
        app_dir=app_dir,
        functions_dir=(app_dir / Path(values["functions_dir"]).expanduser()).resolve(),
        db_url=db_url,
        host=values["host"],
        port=values["port"],
        workers=values["workers"],
        log_level=values["log_level"],
        sqlite_synchronous=values["sqlite_synchronous"],
        max_request_body=values["max_request_body"],
        site_url=values["site_url"],
        max_upload_size=values["max_upload_size"],
        storage_dir=(app_dir / Path(values["storage_dir"]).expanduser()).resolve(),
        s3_bucket=values["s3_bucket"],
        s3_endpoint=values["s3_endpoint"],
        s3_region=values["s3_region"],
        admin_key=values["admin_key"],
        scheduler=values["scheduler"],
        scheduler_concurrency=values["scheduler_concurrency"],
        scheduler_lease=values["scheduler_lease"],
        scheduler_poll=values["scheduler_poll"],
        scheduled_retention=values["scheduled_retention"],
        workpool_concurrency=values["workpool_concurrency"],
        workpool_retention=values["workpool_retention"],
        sources=sources,
    )
