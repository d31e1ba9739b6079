"""faas.api.body: bodies read under a limit, and spooled through SHA-256 while their signature is unchecked."""

from __future__ import annotations

import hashlib
import os

import pytest

from faas.api import body
from faas.api.body import SPOOL_IN_MEMORY, spool
from faas.errors import RequestTooLarge


class FakeContent:
    def __init__(self, data: bytes, chunk: int) -> None:
        self._data, self._chunk = data, chunk
        self.read = 0

    async def iter_chunked(self, size: int):  # type: ignore[no-untyped-def]
        for start in range(0, len(self._data), self._chunk):
            piece = self._data[start:start + self._chunk]
            self.read += len(piece)
            yield piece


class FakeRequest:
    def __init__(self, data: bytes, *, declared: int | None = -1, chunk: int = 1 << 16) -> None:
        self.content_length = len(data) if declared == -1 else declared
        self.content = FakeContent(data, chunk)


def open_files(directory) -> list[str]:  # type: ignore[no-untyped-def]
    """Files under `directory` this process has open (an unlinked temporary file shows as '(deleted)')."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(directory)):
            found.append(target)
    return found


async def test_a_small_body_stays_in_memory(tmp_path):
    data = b'{"name": "small"}'
    spooled = await spool(FakeRequest(data), 1 << 20, RequestTooLarge(), tmp_path)
    assert spooled.file is None and spooled.size == len(data)
    assert spooled.sha256 == hashlib.sha256(data).hexdigest()
    assert await spooled.read() == data
    assert open_files(tmp_path) == []


async def test_an_empty_body_hashes_as_nothing(tmp_path):
    spooled = await spool(FakeRequest(b"", declared=None), 10, RequestTooLarge(), tmp_path)
    assert spooled.sha256 == hashlib.sha256(b"").hexdigest() and await spooled.read() == b""


@pytest.mark.parametrize("declared", [-1, None])  # with Content-Length, and chunked
async def test_a_large_body_goes_to_an_unlinked_file_and_comes_back_whole(tmp_path, declared):
    data = os.urandom(3 * SPOOL_IN_MEMORY + 12345)
    spooled = await spool(FakeRequest(data, declared=declared, chunk=50_000), 10 << 20, RequestTooLarge(),
                          tmp_path)
    assert spooled.memory is None and spooled.file is not None
    assert list(tmp_path.iterdir()) == []  # never visible by name
    assert [name.endswith("(deleted)") for name in open_files(tmp_path)] == [True]
    assert spooled.sha256 == hashlib.sha256(data).hexdigest() and spooled.size == len(data)
    assert await spooled.read() == data
    spooled.close()
    assert open_files(tmp_path) == []


async def test_a_declared_length_over_the_limit_is_refused_before_reading(tmp_path):
    request = FakeRequest(b"x" * 100)
    with pytest.raises(RequestTooLarge):
        await spool(request, 99, RequestTooLarge(), tmp_path)
    assert request.content.read == 0


async def test_a_chunked_body_over_the_limit_stops_at_the_limit_and_leaves_no_file(tmp_path):
    request = FakeRequest(b"x" * (4 * SPOOL_IN_MEMORY), declared=None, chunk=1 << 16)
    with pytest.raises(RequestTooLarge):
        await spool(request, 2 * SPOOL_IN_MEMORY, RequestTooLarge(), tmp_path)
    assert request.content.read <= 2 * SPOOL_IN_MEMORY + (1 << 16)
    assert open_files(tmp_path) == []


async def test_read_at_most_refuses_a_declared_length_before_reading():
    request = FakeRequest(b"x" * 100)
    with pytest.raises(RequestTooLarge):
        await body.read_at_most(request, 99, RequestTooLarge())  # type: ignore[arg-type]
    assert request.content.read == 0
