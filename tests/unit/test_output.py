"""An environment's output pipe: what a container writes is kept, bounded, and handed to the invocation
that takes it, including what was written just before its answer or its crash."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from faas.sandbox.output import TRUNCATED, OutputBuffer, OutputPipe
from tests.support.pool import wait_for


def test_a_buffer_hands_over_what_was_added_since_the_last_take():
    buffer = OutputBuffer(limit=100)
    assert buffer.take() == ""
    buffer.add(b"first\n")
    buffer.add(b"second\n")
    assert buffer.take() == "first\nsecond\n"
    buffer.add(b"third\n")
    assert buffer.take() == "third\n"


def test_a_buffer_keeps_the_last_bytes_and_says_that_earlier_ones_were_dropped():
    buffer = OutputBuffer(limit=10)
    for n in range(100):
        buffer.add(f"{n:03d}\n".encode())
    assert buffer.take() == TRUNCATED + "7\n098\n099\n"  # the last 10 bytes
    buffer.add(b"ok\n")
    assert buffer.take() == "ok\n"  # the next take starts afresh


def test_a_buffer_never_holds_much_more_than_its_limit():
    buffer = OutputBuffer(limit=1000)
    for _ in range(10_000):
        buffer.add(b"x" * 999)
        assert len(buffer._data) <= 2 * 1000 + 999


def test_a_buffer_replaces_invalid_utf8_and_does_not_start_mid_character():
    buffer = OutputBuffer(limit=4)
    buffer.add("aaaa€".encode())  # the euro sign is 3 bytes: the last 4 bytes are "a" and the sign
    assert buffer.take() == TRUNCATED + "a€"
    buffer.add(b"x" * 10 + "€€".encode())  # the last 4 bytes begin with the sign's last byte: skipped
    assert buffer.take() == TRUNCATED + "€"
    buffer.add(b"\xff\n")
    assert buffer.take() == "\ufffd\n"


async def test_a_pipe_is_a_fifo_the_container_may_write_and_not_read(tmp_path: Path):
    pipe = OutputPipe(tmp_path / "out")
    try:
        mode = os.stat(pipe.path).st_mode
        assert stat.S_ISFIFO(mode) and stat.S_IMODE(mode) == 0o622
    finally:
        pipe.close()
    assert not pipe.path.exists()


async def test_what_another_process_writes_is_taken_and_survives_its_exit(tmp_path: Path):
    pipe = OutputPipe(tmp_path / "out")
    try:
        assert pipe.take() == ""
        # A child that writes and dies, as a crashing runtime does: its output is still in the pipe.
        with open(pipe.path, "wb") as stdout:
            subprocess.run(["sh", "-c", "echo from child; echo to stderr >&2; kill -9 $$"],
                           stdout=stdout, stderr=subprocess.STDOUT)
        assert pipe.take() == "from child\nto stderr\n"
        assert pipe.take() == ""
    finally:
        pipe.close()


async def test_output_larger_than_the_pipe_is_read_as_it_arrives_and_bounded(tmp_path: Path):
    pipe = OutputPipe(tmp_path / "out", limit=64 * 1024)
    try:
        # 4 MiB through a 64 KiB pipe: the writer only finishes because the event loop keeps reading.
        with open(pipe.path, "wb") as stdout:
            writer = subprocess.Popen(["sh", "-c", "head -c 4194304 /dev/zero | tr '\\0' x; echo; echo last line"],
                                      stdout=stdout)
        await wait_for(lambda: writer.poll() is not None)
        text = pipe.take()
        assert text.startswith(TRUNCATED) and text.endswith("x\nlast line\n")
        assert len(text) <= len(TRUNCATED) + 64 * 1024
    finally:
        pipe.close()


async def test_closing_keeps_what_is_left_in_the_pipe(tmp_path: Path):
    pipe = OutputPipe(tmp_path / "out")
    fd = os.open(pipe.path, os.O_WRONLY)
    os.write(fd, b"last words\n")
    os.close(fd)
    pipe.close()  # as when the environment is forgotten on its container's exit, before its invocation ends
    assert pipe.take() == "last words\n"
