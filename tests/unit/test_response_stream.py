"""The channel a streamed response takes from the Runtime API to the caller, and the head of a streamed
function URL response."""

from __future__ import annotations

import asyncio

import pytest

from faas.sandbox.response_stream import HIGH_WATER, ResponseStream, split_prelude
from faas.sources import url_events


async def test_chunks_come_out_in_order_then_the_end():
    stream = ResponseStream("text/plain")
    await stream.write(b"a")
    await stream.write(b"")  # nothing to send
    await stream.write(b"b")
    stream.close()
    assert [await stream.read(), await stream.read(), await stream.read()] == [b"a", b"b", None]
    assert stream.size == 2


async def test_a_writer_waits_for_the_reader_past_the_high_water_mark():
    stream = ResponseStream("application/octet-stream")
    await stream.write(b"x" * (HIGH_WATER - 1))  # under the mark: returns at once
    blocked = asyncio.ensure_future(stream.write(b"y"))
    await asyncio.sleep(0)
    assert not blocked.done()
    assert await stream.read() == b"x" * (HIGH_WATER - 1)
    await asyncio.wait_for(blocked, 5)
    assert await stream.read() == b"y"


async def test_close_and_abandon_release_a_waiting_writer_and_reader():
    stream = ResponseStream("application/octet-stream")
    reader = asyncio.ensure_future(stream.read())
    await asyncio.sleep(0)
    stream.close()  # the invocation ended (a timeout, say)
    assert await asyncio.wait_for(reader, 5) is None
    await stream.write(b"late")  # dropped
    assert stream.size == 0

    abandoned = ResponseStream("application/octet-stream")
    writer = asyncio.ensure_future(abandoned.write(b"z" * HIGH_WATER))
    await asyncio.sleep(0)
    abandoned.abandon()  # the caller went away
    await asyncio.wait_for(writer, 5)
    await abandoned.write(b"more")  # read and dropped, never held
    assert abandoned.size == HIGH_WATER


def test_split_prelude():
    assert split_prelude(b'{"statusCode":201}' + b"\0" * 8 + b"body\0") == (b'{"statusCode":201}', b"body\0")
    assert split_prelude(b'{"statusCode":201}' + b"\0" * 7) is None


@pytest.mark.parametrize("prelude, expected", [
    (None, (200, [("Content-Type", "text/plain")])),
    (b'{"statusCode": 201, "headers": {"X-A": "1"}, "cookies": ["a=1", "b=2"]}',
     (201, [("X-A", "1"), ("Content-Type", "application/octet-stream"), ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2")])),
    (b'{"headers": {"content-type": "text/html", "Content-Length": "5"}}', (200, [("content-type", "text/html")])),
    (b'{"statusCode": 99}', None),
    (b'{"headers": ["x"]}', None),
    (b'[1]', None),
    (b"not json", None),
    (b'{"headers": {"Bad Name": "x"}}', None),
])
def test_stream_head(prelude, expected):
    assert url_events.stream_head("text/plain", prelude) == expected
