"""A response a function streams (Lambda-Runtime-Function-Response-Mode: streaming), on its way from
the Runtime API to the caller that waits for it.

The Runtime API writes chunks as the runtime sends them and the caller reads them as they come. A few
chunks are held at most (HIGH_WATER bytes): past that the writer waits for the reader, so a slow
caller slows the function down through TCP instead of filling the platform's memory. A caller that
goes away abandons the stream: what the function still writes is read and dropped, so the function
runs to its end as on Lambda.
"""

from __future__ import annotations

import asyncio
from collections import deque

HIGH_WATER = 256 * 1024
HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response"
PRELUDE_DELIMITER = b"\0" * 8  # between awslambda.HttpResponseStream's JSON prelude and the body


class ResponseStream:
    def __init__(self, content_type: str) -> None:
        self.content_type = content_type
        self.size = 0  # bytes written so far
        self.closed = False
        self.abandoned = False
        self._chunks: deque[bytes] = deque()
        self._held = 0
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()

    async def write(self, chunk: bytes) -> None:
        if self.closed or self.abandoned or not chunk:
            return
        self.size += len(chunk)
        self._chunks.append(chunk)
        self._held += len(chunk)
        self._readable.set()
        if self._held >= HIGH_WATER:
            self._writable.clear()
            await self._writable.wait()

    def close(self) -> None:
        """No more chunks: the stream ended, or the invocation did (an error, a timeout, an exit)."""
        self.closed = True
        self._readable.set()
        self._writable.set()

    def abandon(self) -> None:
        self.abandoned = True
        self._chunks.clear()
        self._held = 0
        self._writable.set()

    async def read(self) -> bytes | None:
        """The next chunk; None once the stream is closed and every chunk was read."""
        while not self._chunks:
            if self.closed:
                return None
            self._readable.clear()
            await self._readable.wait()
        chunk = self._chunks.popleft()
        self._held -= len(chunk)
        if self._held < HIGH_WATER:
            self._writable.set()
        return chunk


def split_prelude(data: bytes) -> tuple[bytes, bytes] | None:
    """(JSON prelude, body) of an http-integration response, or None while the delimiter is not in
    `data` yet."""
    end = data.find(PRELUDE_DELIMITER)
    if end < 0:
        return None
    return data[:end], data[end + len(PRELUDE_DELIMITER):]
