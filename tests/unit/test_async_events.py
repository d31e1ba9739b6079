"""An asynchronous invocation's work payload (faas.sources.async_events) names its function and carries
the event's bytes back untouched, whatever they hold."""

from __future__ import annotations

import datetime as dt

import pytest

from faas.sources.async_events import AsyncEvent, decode_event, encode_event
from faas.store.work import WorkItem

T0 = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("payload", [b"{}", b"", b'{"a": "line\\none"}\n\n', b"\x00\xff\n\x80 not json",
                                     b"x" * 1_000_000])
def test_an_event_comes_back_as_it_was_queued(payload: bytes) -> None:
    item = WorkItem(41, "async", "req-1", None, encode_event("orders_v2-x", payload), T0, T0, 3, "node-a")
    assert decode_event(item) == AsyncEvent("req-1", "orders_v2-x", payload, T0, 3, 41)


def test_the_function_is_named_in_a_readable_first_line() -> None:
    assert encode_event("orders", b"{}\n") == b'{"function": "orders"}\n{}\n'
