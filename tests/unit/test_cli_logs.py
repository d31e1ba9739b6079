"""`faas logs`: reading --since, and following pages of events as `aws logs tail --follow` does (a fake
FilterLogEvents here; the real one in tests/e2e/test_logs_e2e.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from faas.cli.logs import follow, since_ms
from faas.errors import ConfigError

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)
NOW_MS = int(NOW.timestamp() * 1000)


@pytest.mark.parametrize(("text", "back_s"), [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400),
                                               ("1w", 604800), (" 5m ", 300)])
def test_since_takes_durations_back_from_now(text: str, back_s: int) -> None:
    assert since_ms(text, NOW) == NOW_MS - back_s * 1000


def test_since_takes_iso_times_in_utc_unless_they_say_otherwise() -> None:
    assert since_ms("2026-12-01T11:00:00", NOW) == NOW_MS - 3600 * 1000
    assert since_ms("2026-12-01T11:00:00Z", NOW) == NOW_MS - 3600 * 1000
    assert since_ms("2026-12-01T12:00:00+01:00", NOW) == NOW_MS - 3600 * 1000


@pytest.mark.parametrize("text", ["10", "10 minutes", "-5m", "m", "yesterday", "2026-13-01"])
def test_since_refuses_what_is_neither_a_duration_nor_a_time(text: str) -> None:
    with pytest.raises(ConfigError, match="--since"):
        since_ms(text, NOW)


def event(ts: int, event_id: str) -> dict[str, Any]:
    return {"timestamp": ts, "eventId": event_id, "message": f"{event_id}\n"}


def test_follow_reads_every_page_then_goes_on_from_the_newest_timestamp_without_repeating_events() -> None:
    answers = [
        {"events": [event(1, "a"), event(2, "b")], "nextToken": "t1"},
        {"events": [event(3, "c")]},  # the end: wait, then read from timestamp 3
        {"events": [event(3, "c"), event(3, "d")]},  # c again (same timestamp): not shown twice
        {"events": [event(3, "d"), event(5, "e")]},
    ]
    calls: list[tuple[int | None, str | None]] = []
    sleeps: list[float] = []

    def fetch(start_ms: int | None, token: str | None) -> dict[str, Any]:
        calls.append((start_ms, token))
        return answers[len(calls) - 1]

    shown = [e["eventId"] for e in follow(fetch, 0, sleeps.append, rounds=3)]
    assert shown == ["a", "b", "c", "d", "e"]
    assert calls == [(0, None), (0, "t1"), (3, None), (3, None)]
    assert len(sleeps) == 2


def test_follow_with_one_round_reads_the_pages_once() -> None:
    pages = iter([{"events": [event(1, "a")], "nextToken": "t"}, {"events": [event(2, "b")]}])
    shown = [e["eventId"] for e in follow(lambda start, token: next(pages), None, lambda s: None, rounds=1)]
    assert shown == ["a", "b"]
