"""One server per data dir: `faas serve` holds an exclusive lock on <data-dir>/serve.lock for its whole
life, and checks its port, before it touches anything. A second server on the same data dir would otherwise
remove the first one's containers (killing its invocations) and overwrite its endpoint file."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from pathlib import Path

from faas.errors import StartupError

LOCK_FILE = "serve.lock"


class ServeLock:
    """The held lock; the file names the holder (pid, host, port) for the server that is refused."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    def record(self, host: str, port: int, endpoint: str = "") -> None:
        text = json.dumps({"pid": os.getpid(), "host": host, "port": port, "endpoint": endpoint}) + "\n"
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, text.encode(), 0)

    def release(self) -> None:
        # The file stays: removing it would let a third server lock a new file while a second one
        # still waits on the old one's inode. Closing the descriptor frees the lock.
        os.close(self._fd)


def _holder(path: Path) -> str:
    """Who holds the lock, as its file says (it may be mid-write: then only that the dir is in use)."""
    try:
        found = json.loads(path.read_text())
        where = found.get("endpoint") or (f"{found['host']}:{found['port']}" if found["port"] else
                                          "a port it has yet to choose")
        return f"another faas serve (pid {found['pid']}, listening on {where})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another faas serve"


def acquire(data_dir: Path, host: str, port: int) -> ServeLock:
    """Lock the data dir, or refuse naming the server that holds it; then check that host:port is free."""
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = data_dir / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise StartupError(f"cannot create the lock file in the data dir {data_dir}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StartupError(f"{_holder(path)} uses the data dir {data_dir}; stop it first, or give this server "
                           "another --data-dir (FAAS_DATA_DIR)") from None
    lock = ServeLock(path, fd)
    try:
        check_port(host, port)
    except StartupError:
        lock.release()
        raise
    lock.record(host, port)
    return lock


def check_port(host: str, port: int) -> None:
    """Refuse early when something already listens on host:port (the API binds it only once all is built)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with contextlib.closing(socket.socket(family, socket.SOCK_STREAM)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the API's own socket: TIME_WAIT is free
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as exc:
            raise StartupError(f"cannot listen on {host or 'every address'}:{port}: {exc.strerror}; another "
                               "server uses that port: stop it or pick another --port (FAAS_PORT)") from exc
