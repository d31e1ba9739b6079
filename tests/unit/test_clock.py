"""The schedule clock: FAAS_CLOCK_FILE's instant advancing from the file's last write, and refused on a node that
listens beyond loopback."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from faas.app import schedule_clock
from faas.clock import Clock
from faas.errors import ConfigError, StartupError
from faas.settings import load


def test_the_file_instant_advances_with_real_time_since_it_was_written(tmp_path: Path) -> None:
    path = tmp_path / "now"
    path.write_text("2026-10-25T00:30:00Z")
    written = path.stat().st_mtime
    os.utime(path, (written - 90, written - 90))  # written 90 s ago
    now = Clock(path).now()
    assert dt.datetime(2026, 10, 25, 0, 31, 30, tzinfo=dt.timezone.utc) <= now
    assert now.tzinfo is not None and now.year == 2026
    path.write_text("2030-01-01T00:00:00+01:00")  # rewritten: read again
    assert Clock(path).now() >= dt.datetime(2029, 12, 31, 23, 0, tzinfo=dt.timezone.utc)


def test_a_file_that_is_not_an_instant_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "now"
    path.write_text("tomorrow")
    with pytest.raises(ConfigError, match="ISO-8601"):
        Clock(path).now()


def test_the_test_clock_is_refused_beyond_loopback(tmp_path: Path) -> None:
    path = tmp_path / "now"
    path.write_text("2026-01-01T00:00:00Z")
    said: list[str] = []
    assert schedule_clock(load({"FAAS_CLOCK_FILE": str(path)}), said.append).controlled
    assert "not real time" in said[0]
    with pytest.raises(StartupError, match="loopback"):
        schedule_clock(load({"FAAS_CLOCK_FILE": str(path), "FAAS_HOST": "0.0.0.0"}), said.append)
    assert not schedule_clock(load({}), said.append).controlled
