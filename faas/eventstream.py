"""AWS's event-stream binary framing (application/vnd.amazon.eventstream), the encoding side: what
InvokeWithResponseStream answers with and what boto3's `botocore.eventstream` parses.

A message is a prelude (total length, headers length, both big-endian uint32, and the prelude's
CRC32), the headers, the payload, and a CRC32 of everything before it. Only string headers are
written (type 7: a uint16 length, then UTF-8), which is all Lambda's events carry. botocore has the
decoder only; the encoder is these few lines rather than awscrt, a native package, for one function.
"""

from __future__ import annotations

import json
import struct
import zlib

_STRING = 7
_PRELUDE = struct.Struct(">II")
_CRC = struct.Struct(">I")


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (struct.pack(">B", len(raw_name)) + raw_name + struct.pack(">BH", _STRING, len(raw_value))
            + raw_value)


def message(headers: dict[str, str], payload: bytes) -> bytes:
    encoded = b"".join(_header(name, value) for name, value in headers.items())
    total = _PRELUDE.size + _CRC.size + len(encoded) + len(payload) + _CRC.size
    prelude = _PRELUDE.pack(total, len(encoded))
    prelude += _CRC.pack(zlib.crc32(prelude))
    body = prelude + encoded + payload
    return body + _CRC.pack(zlib.crc32(body))


def event(event_type: str, payload: bytes, content_type: str) -> bytes:
    """One event of an operation's event stream, as AWS frames it."""
    return message({":event-type": event_type, ":content-type": content_type, ":message-type": "event"}, payload)


def payload_chunk(data: bytes) -> bytes:
    """InvokeWithResponseStream's PayloadChunk: a piece of the function's response, as it wrote it."""
    return event("PayloadChunk", data, "application/octet-stream")


def invoke_complete(error_code: str | None, error_details: str | None, log_result: str | None) -> bytes:
    """InvokeWithResponseStream's last event: how the invocation ended, and the log tail if asked for."""
    fields = {"ErrorCode": error_code, "ErrorDetails": error_details, "LogResult": log_result}
    body = json.dumps({name: value for name, value in fields.items() if value is not None}).encode()
    return event("InvokeComplete", body, "application/json")
