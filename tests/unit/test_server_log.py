"""faas.server_log: the text and JSON shapes of the server's log lines, FAAS_LOG_LEVEL, and the pid_max
warning that explains itself once per data dir (faas.app)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from faas import app, server_log
from faas.settings import load


def record(name: str, level: int, message: str, **fields: object) -> logging.LogRecord:
    made = logging.LogRecord(name, level, __file__, 1, message, (), None)
    if fields:
        setattr(made, server_log.FIELDS, fields)
    return made


def test_text_lines_for_progress_access_and_the_rest() -> None:
    text = server_log.TextFormatter()
    assert text.format(record(server_log.PROGRESS, logging.INFO, "ready at x")) == "faas: ready at x"
    assert text.format(record(server_log.PROGRESS, logging.WARNING, "low")) == "faas: warning: low"
    assert text.format(record(server_log.PROGRESS, logging.ERROR, "in use")) == "error: in use"
    assert text.format(record(server_log.ACCESS, logging.INFO, '1.2.3.4 - - [t] "GET / HTTP/1.1"')) == \
        '1.2.3.4 - - [t] "GET / HTTP/1.1"'
    assert text.format(record("faas.x", logging.WARNING, "dropped")).endswith(" WARNING faas.x: dropped")


def test_json_lines_carry_the_fields() -> None:
    line = json.loads(server_log.JsonFormatter().format(
        record(server_log.ACCESS, logging.INFO, "GET /", status=200, operation="lambda:ListFunctions")))
    assert (line["level"], line["logger"], line["message"], line["status"], line["operation"]) == (
        "info", server_log.ACCESS, "GET /", 200, "lambda:ListFunctions")
    assert line["time"].endswith("+00:00")


@pytest.fixture
def root_logging():  # type: ignore[no-untyped-def]
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.NOTSET)


def test_level_filters_and_alembic_is_quiet_below_debug(tmp_path: Path, root_logging) -> None:  # type: ignore[no-untyped-def]
    server_log.configure(load({"FAAS_DATA_DIR": str(tmp_path), "FAAS_LOG_LEVEL": "warning",
                               "FAAS_LOG_FORMAT": "json"}))
    assert root_logging.level == logging.WARNING
    assert isinstance(root_logging.handlers[0].formatter, server_log.JsonFormatter)
    assert logging.getLogger("alembic").level == logging.WARNING
    server_log.configure(load({"FAAS_DATA_DIR": str(tmp_path), "FAAS_LOG_LEVEL": "debug"}))
    assert logging.getLogger("alembic").level == logging.NOTSET  # debug shows the migrations


def test_pid_max_warning_is_explained_once_per_data_dir(tmp_path: Path) -> None:
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    settings = load({"FAAS_DATA_DIR": str(tmp_path), "FAAS_MAX_CONCURRENCY": str(pid_max)})  # x1024 > pid_max
    said: list[str] = []
    app._check_pid_room(settings, said.append)
    assert len(said) == 1 and "Impact:" in said[0] and "shown once" in said[0]
    app._check_pid_room(settings, said.append)
    assert len(said) == 1
    changed = load({"FAAS_DATA_DIR": str(tmp_path), "FAAS_MAX_CONCURRENCY": str(pid_max + 1)})
    app._check_pid_room(changed, said.append)  # other figures: explained again
    assert len(said) == 2


def test_a_repeated_warning_is_written_once_a_window_with_the_count_of_the_rest(caplog) -> None:
    now = [100.0]
    repeated = server_log.Repeated(logging.getLogger("faas.test.repeated"), every_s=10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="faas.test.repeated"):
        for _ in range(4):
            repeated.warning("throttle:a", "throttled %s", "a")
        repeated.warning("throttle:b", "throttled %s", "b")  # another key has its own window
        now[0] += 10.0
        repeated.warning("throttle:a", "throttled %s", "a")
        repeated.warning("throttle:a", "throttled %s", "a")
    assert [r.getMessage() for r in caplog.records] == [
        "throttled a", "throttled b", "throttled a (3 more like it since the last such line)"]
