"""How `faas serve` writes its log to stderr: FAAS_LOG_LEVEL filters it all, FAAS_LOG_FORMAT picks plain
lines (the access log in a common access-log format, "faas: ..." for what the server is doing, a timestamped
line for the rest) or one JSON object per line with the same fields."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import time
from collections.abc import Callable

from faas.settings import Settings

ACCESS = "faas.access"  # one line per API request (faas.api.access_log)
PROGRESS = "faas.serve"  # what the server is doing: starting, ready, stopping
FIELDS = "fields"  # a record's structured fields (logging's `extra`), kept as keys in JSON lines

log = logging.getLogger(PROGRESS)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if record.name == ACCESS:
            return record.getMessage()  # the line carries its own timestamp
        if record.name == PROGRESS and record.levelno >= logging.ERROR:
            return f"error: {record.getMessage()}"  # why the server exits, as the CLI words its errors
        if record.name == PROGRESS:
            warning = "warning: " if record.levelno >= logging.WARNING else ""
            return f"faas: {warning}{record.getMessage()}"
        return super().format(record)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
                "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        line.update(getattr(record, FIELDS, {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # Alembic names every migration it applies: twenty lines on a first start, shown only at debug level.
    logging.getLogger("alembic").setLevel(logging.NOTSET if settings.log_level == "debug" else logging.WARNING)


def failed(message: str) -> None:
    """Why the server exits."""
    log.error(message)


def progress(message: str) -> None:
    """What the server is doing, for the operator; a message starting "warning: " is logged as a warning."""
    if message.startswith("warning: "):
        log.warning(message.removeprefix("warning: "))
    else:
        log.info(message)


class Repeated:
    """A warning that can repeat many times a second (a throttled or failing function under load), written at
    most once per key and `every_s`: the first of a window is logged, the rest only counted, and the count
    rides on the next line written, so a burst costs one line, not one per request, and nothing is hidden."""

    def __init__(self, logger: logging.Logger, every_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self._every_s = every_s
        self._clock = clock
        self._next: dict[str, float] = {}  # key -> when its next line may be written
        self._held: dict[str, int] = {}  # key -> lines not written since its last one

    def warning(self, key: str, message: str, *args: object) -> None:
        if not self._logger.isEnabledFor(logging.WARNING):
            return
        now = self._clock()
        if now < self._next.get(key, 0.0):
            self._held[key] = self._held.get(key, 0) + 1
            return
        self._next[key] = now + self._every_s
        held = self._held.pop(key, 0)
        if held:
            message += " (%d more like it since the last such line)"
            args = (*args, held)
        self._logger.warning(message, *args)
