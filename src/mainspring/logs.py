"""Capturing ``print`` and ``logging`` inside a function into its response's ``logLines``.

A context variable holds the current call's collector, so concurrent calls on one event loop
never see each other's lines. Every captured line also goes to the server log.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

__all__ = ["LogCollector", "capture_logs", "install"]

server_log = logging.getLogger("mainspring.functions")
_current: ContextVar[LogCollector | None] = ContextVar("mainspring_logs", default=None)
_LEVELS = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARN",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "ERROR",
}
MAX_LINES = 256


class LogCollector:
    """The lines one function call printed or logged."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.lines: list[str] = []
        self._partial = ""

    def add(self, level: str, message: str) -> None:
        if len(self.lines) < MAX_LINES:
            self.lines.append(f"[{level}] {message}")
        elif len(self.lines) == MAX_LINES:
            self.lines.append("[WARN] log lines truncated")
        server_log.info("%s [%s] %s", self.label, level, message)

    def write(self, text: str) -> None:
        self._partial += text
        while "\n" in self._partial:
            line, self._partial = self._partial.split("\n", 1)
            self.add("LOG", line)

    def flush(self) -> None:
        if self._partial:
            self.add("LOG", self._partial)
            self._partial = ""


class _StdoutRouter(io.TextIOBase):
    """Stands in for sys.stdout: writes go to the current call's collector, if any."""

    def __init__(self, real: TextIO) -> None:
        self.real = real

    def write(self, text: str) -> int:
        collector = _current.get()
        if collector is None:
            return self.real.write(text)
        collector.write(text)
        return len(text)

    def flush(self) -> None:
        self.real.flush()

    def isatty(self) -> bool:
        return self.real.isatty()

    def fileno(self) -> int:
        return self.real.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


class _LogHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        collector = _current.get()
        if collector is None or record.name == server_log.name:
            # Being a root handler switches off Python's last-resort stderr output; keep its
            # behaviour for warnings and errors while nobody else has configured logging.
            root = logging.getLogger()
            if root.handlers == [self] and record.levelno >= logging.WARNING:
                last_resort = logging.lastResort
                if last_resort is not None:
                    last_resort.handle(record)
            return
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not break the function
            message = str(record.msg)
        collector.add(_LEVELS.get(record.levelno, "LOG"), message)


_handler = _LogHandler(level=logging.INFO)


def install() -> None:
    """Route stdout and logging through collectors (idempotent, and repaired if replaced)."""
    if not isinstance(sys.stdout, _StdoutRouter):
        sys.stdout = _StdoutRouter(sys.stdout)
    root = logging.getLogger()
    if _handler not in root.handlers:
        root.addHandler(_handler)
    if root.getEffectiveLevel() > logging.INFO:
        # The root level gates records before any handler sees them; INFO lines belong
        # in logLines even when the server log itself is quieter.
        root.setLevel(logging.INFO)


@contextmanager
def capture_logs(label: str) -> Iterator[LogCollector]:
    """Collect the lines of one call (nested calls share their caller's collector)."""
    install()
    existing = _current.get()
    if existing is not None:
        yield existing
        return
    collector = LogCollector(label)
    token = _current.set(collector)
    try:
        yield collector
    finally:
        collector.flush()
        _current.reset(token)
