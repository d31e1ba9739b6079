"""What an environment writes to its stdout and stderr: a pipe per environment that the platform
creates and reads, so the output of anything in the container (a runtime that is not ours, child
processes, native libraries) reaches the invocation's log, and survives the container's crash.

The pipe is a FIFO in the sandbox directory, bind-mounted into the container at OUTPUT_PATH; the
container's entry is started with its stdout and stderr redirected to it (faas/sandbox/docker_backend.py).
The platform reads it on the event loop as data arrives, so a function can write more than the pipe
holds, and keeps the last MAX_OUTPUT_BYTES since the previous invocation ended. No Docker API call
is involved after the container's start.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

OUTPUT_PATH = "/dev/faas-output"  # where the pipe appears inside the container
MAX_OUTPUT_BYTES = 1024 * 1024  # an invocation's log keeps the last MiB of its output, as the bootstraps' did
TRUNCATED = "[faas] earlier output truncated\n"
_READ_BYTES = 64 * 1024  # one pipe's worth (Linux's default pipe size)
# A chatty function cannot hold the event loop for more than 1 MiB at a time; nor can it keep a take
# going: what was in the pipe when the take began (64 KiB at most) is read well within it.
_READS = 16


class OutputBuffer:
    """The output read since the last `take`: its last `limit` bytes, and whether anything was dropped."""

    def __init__(self, limit: int = MAX_OUTPUT_BYTES) -> None:
        self._limit = limit
        self._data = bytearray()
        self._dropped = False

    def add(self, chunk: bytes) -> None:
        self._data += chunk
        if len(self._data) > 2 * self._limit:  # cut in batches: bounded memory, amortised copying
            del self._data[:len(self._data) - self._limit]
            self._dropped = True

    def take(self) -> str:
        """Everything since the last call as text (invalid UTF-8 replaced), and empty the buffer."""
        data = bytes(self._data)
        dropped = self._dropped or len(data) > self._limit
        self._data.clear()
        self._dropped = False
        if len(data) > self._limit:
            data = data[-self._limit:]
        if dropped:
            start = 0
            while start < len(data) and start < 3 and data[start] & 0xC0 == 0x80:  # not mid-character
                start += 1
            return TRUNCATED + data[start:].decode("utf-8", "replace")
        return data.decode("utf-8", "replace")


class OutputPipe:
    """One environment's pipe: created before its container starts, read until the environment is stopped."""

    def __init__(self, path: Path, limit: int = MAX_OUTPUT_BYTES) -> None:
        self.path = path
        self.buffer = OutputBuffer(limit)
        os.mkfifo(path, 0o600)
        # The container's user may write, never read: its output is the platform's to take.
        os.chmod(path, 0o622)
        try:
            # Read and write: the platform holding a writer itself means the pipe never reports an end
            # (no busy wake-ups once the container is gone), and opening never waits for the container.
            self._fd: int | None = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._fd, self._read)

    def take(self) -> str:
        """The output since the previous take, including all that is in the pipe now: whatever the
        function wrote before it answered (or crashed) is there, since its write came first."""
        if self._fd is not None:
            self._read()
        return self.buffer.take()

    def close(self) -> None:
        """Keep what is still in the pipe (a crashed invocation's last words), then stop reading."""
        if self._fd is None:
            return
        self._read()
        self._loop.remove_reader(self._fd)
        os.close(self._fd)
        self._fd = None
        self.path.unlink(missing_ok=True)

    def _read(self) -> None:
        for _ in range(_READS):
            try:
                chunk = os.read(self._fd, _READ_BYTES)  # type: ignore[arg-type]  # open while reading
            except BlockingIOError:
                return
            self.buffer.add(chunk)
