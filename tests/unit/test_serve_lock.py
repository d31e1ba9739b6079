"""The data-dir lock of `faas serve` (faas.serve_lock): one holder, a refusal that names it, a port check."""

from __future__ import annotations

import os
import socket

import pytest

from faas import serve_lock
from faas.errors import StartupError


def test_second_lock_on_a_data_dir_is_refused_naming_the_holder(tmp_path) -> None:
    first = serve_lock.acquire(tmp_path / "data", "127.0.0.1", 0)
    try:
        with pytest.raises(StartupError, match=f"pid {os.getpid()}, listening on a port it has yet to choose"):
            serve_lock.acquire(tmp_path / "data", "127.0.0.1", 0)
        first.record("127.0.0.1", 9123, "http://127.0.0.1:9123")
        with pytest.raises(StartupError, match="listening on http://127.0.0.1:9123.*--data-dir"):
            serve_lock.acquire(tmp_path / "data", "127.0.0.1", 0)
    finally:
        first.release()
    serve_lock.acquire(tmp_path / "data", "127.0.0.1", 0).release()  # free again once released


def test_lock_file_mid_write_still_refuses(tmp_path) -> None:
    first = serve_lock.acquire(tmp_path, "127.0.0.1", 0)
    try:
        (tmp_path / serve_lock.LOCK_FILE).write_text('{"pid": 1')
        with pytest.raises(StartupError, match="^another faas serve uses the data dir"):
            serve_lock.acquire(tmp_path, "127.0.0.1", 0)
    finally:
        first.release()


def test_busy_port_is_refused_and_the_lock_freed(tmp_path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(StartupError, match=f"cannot listen on 127.0.0.1:{port}.*--port"):
            serve_lock.acquire(tmp_path, "127.0.0.1", port)
    serve_lock.acquire(tmp_path, "127.0.0.1", port).release()
