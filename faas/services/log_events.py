"""An invocation record's log as CloudWatch Logs events: one event per line, each at its place (invocation
end, request id, line) in a group's order, and the paging tokens that name such places."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

from faas.errors import LogsInvalidParameter
from faas.model import InvocationRecord

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
AFTER_ALL_LINES = 1 << 30  # a line index past any record's last

Position = tuple[int, str, int]  # (invocation end in µs since the epoch, request id, line): an event's place


@dataclasses.dataclass(frozen=True)
class Event:
    position: Position
    stream: str
    message: str
    ingested_ms: int

    def wire(self, *, with_stream: bool = True) -> dict[str, Any]:
        event: dict[str, Any] = {"timestamp": self.position[0] // 1000, "message": self.message,
                                 "ingestionTime": self.ingested_ms}
        if with_stream:
            event["logStreamName"] = self.stream
            event["eventId"] = f"{self.position[0]}-{self.position[2]}-{self.position[1]}"
        return event


def after_all(record: InvocationRecord) -> Position:
    """The place after every line of `record`."""
    return (us(record.ended_at), record.request_id, AFTER_ALL_LINES)


def events_of(record: InvocationRecord) -> Iterator[Event]:
    """One event per line of the record's log, each message ending in its newline, as Lambda's do, at the time the
    invocation ended (when its record was written)."""
    ended = us(record.ended_at)
    lines = record.log.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for index, line in enumerate(lines):
        yield Event((ended, record.request_id, index), record.log_stream or "", line + "\n", ended // 1000)


def before(position: Position) -> Position:
    """The place just before `position`, to resume at it."""
    return (position[0], position[1], position[2] - 1)


def us(value: dt.datetime) -> int:
    delta = value - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def ms(value: dt.datetime) -> int:
    return us(value) // 1000


def datetime_at(micros: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=micros)


def encode(value: Any) -> str:
    """A token: `value` as base64url JSON (opaque to clients, checked when it comes back)."""
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode().rstrip("=")


def decode(token: Any) -> list[Any]:
    if not isinstance(token, str):
        raise LogsInvalidParameter("The specified nextToken is not valid.")
    try:
        value = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise LogsInvalidParameter("The specified nextToken is not valid.") from exc
    if not isinstance(value, list) or not value:
        raise LogsInvalidParameter("The specified nextToken is not valid.")
    return value


def position_of(token: str) -> Position | None:
    """The place a token names (None: the start, or the end reading backwards)."""
    if token == encode(None):
        return None
    value = decode(token)
    if len(value) != 3 or not isinstance(value[0], int) or not isinstance(value[1], str) \
            or not isinstance(value[2], int) or isinstance(value[0], bool):
        raise LogsInvalidParameter("The specified nextToken is not valid.")
    return value[0], value[1], value[2]
