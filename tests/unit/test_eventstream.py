"""faas's event-stream encoder, read back with botocore's own parser (what boto3 uses for
InvokeWithResponseStream)."""

from __future__ import annotations

import json

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from faas import eventstream


def decode(data: bytes) -> list:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return list(buffer)


def test_messages_round_trip_through_botocore():
    data = eventstream.payload_chunk(b"hello") + eventstream.payload_chunk(bytes(range(256)) * 300) \
        + eventstream.invoke_complete(None, None, "bG9n")
    first, second, last = decode(data)
    assert first.headers == {":event-type": "PayloadChunk", ":content-type": "application/octet-stream",
                             ":message-type": "event"}
    assert first.payload == b"hello"
    assert second.payload == bytes(range(256)) * 300
    assert last.headers[":event-type"] == "InvokeComplete"
    assert json.loads(last.payload) == {"LogResult": "bG9n"}


def test_invoke_complete_carries_the_error():
    [message] = decode(eventstream.invoke_complete("TypeError", "broke", None))
    assert json.loads(message.payload) == {"ErrorCode": "TypeError", "ErrorDetails": "broke"}


def test_a_message_split_anywhere_is_read_whole():
    data = eventstream.payload_chunk(b"x" * 1000)
    buffer = EventStreamBuffer()
    messages = []
    for start in range(0, len(data), 7):
        buffer.add_data(data[start:start + 7])
        messages.extend(buffer)
    assert [m.payload for m in messages] == [b"x" * 1000]


def test_the_checksums_cover_the_message():
    data = bytearray(eventstream.payload_chunk(b"hello"))
    data[-6] ^= 1  # a payload byte
    with pytest.raises(ChecksumMismatch):
        decode(bytes(data))
