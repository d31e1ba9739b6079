"""The pure plan of a firing: which due times fire, which are skipped for being too late, where the schedule
goes next, where a flexible window puts a due time, and when a schedule first falls due."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from faas.services.schedule_expressions import parse_expression
from faas.services.schedules import first_due, flexible_offset, plan_firing
from faas.sources.schedules import retry_delay
from faas.store.schedules import Schedule

T0 = dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.timezone.utc)
HOUR, MINUTE = dt.timedelta(hours=1), dt.timedelta(minutes=1)


def schedule(expression: str = "rate(1 hour)", **changes) -> Schedule:  # type: ignore[no-untyped-def]
    base = Schedule("default", "job", expression, "UTC", None, None, "", True, {}, None, False, T0, T0, 0, None,
                    T0, T0)
    return dataclasses.replace(base, **changes)


def plan(item: Schedule, now: dt.datetime):  # type: ignore[no-untyped-def]
    return plan_firing(item, now, lambda due: (due.isoformat(), b""))


@pytest.mark.parametrize(("now", "fired", "skipped", "next_due"), [
    (T0, [T0], 0, T0 + HOUR),  # on time
    (T0 + 4 * MINUTE, [T0], 0, T0 + HOUR),  # late, inside the 5-minute grace
    (T0 + 6 * MINUTE, [], 1, T0 + HOUR),  # too late: skipped
    (T0 + 3 * HOUR + 3 * MINUTE, [T0 + 3 * HOUR], 3, T0 + 4 * HOUR),  # down for three hours
])
def test_late_due_times_fire_inside_the_grace_and_are_skipped_outside(now, fired, skipped, next_due):
    firing = plan(schedule(), now)
    assert [key for key, _ in firing.deliveries] == [due.isoformat() for due in fired]
    assert (firing.skipped, firing.next_due, firing.fire_at, firing.delete_row) == \
        (skipped, next_due, next_due, False)


def test_a_flexible_window_widens_what_a_late_node_may_still_fire():
    flexible = schedule("rate(10 minutes)", flexible_window_min=30)
    now = T0 + 36 * MINUTE
    firing = plan(flexible, now)
    # 06:00 is 36 minutes late, past its 30-minute window and the 5-minute grace: skipped. 06:10 on are inside
    # it: each fires once its offset in the window has come, in order.
    assert (firing.skipped, firing.last_skipped_at) == (1, T0)
    expected = []
    for due in (T0 + m * MINUTE for m in (10, 20, 30)):
        if due + flexible_offset(flexible, due) > now:
            break
        expected.append(due)
    assert [key for key, _ in firing.deliveries] == [due.isoformat() for due in expected]
    assert firing.next_due == (expected[-1] if expected else T0) + 10 * MINUTE


def test_flexible_offsets_are_spread_inside_the_window_and_the_same_everywhere():
    flexible = schedule(flexible_window_min=15)
    offsets = [flexible_offset(flexible, T0 + n * HOUR) for n in range(50)]
    assert all(dt.timedelta(0) <= offset < 15 * MINUTE for offset in offsets)
    assert len(set(offsets)) > 10  # spread, not one fixed delay
    assert offsets == [flexible_offset(flexible, T0 + n * HOUR) for n in range(50)]  # deterministic
    assert flexible_offset(schedule(), T0) == dt.timedelta(0)  # OFF


def test_a_one_time_schedule_completes_and_goes_when_asked():
    once = schedule("at(2026-12-01T06:00:00)")
    assert plan(once, T0).next_due is None and not plan(once, T0).delete_row
    firing = plan(dataclasses.replace(once, delete_after_completion=True), T0)
    assert firing.delete_row and len(firing.deliveries) == 1


def test_an_end_date_ends_a_recurring_schedule():
    ending = schedule(end_date=T0 + 90 * MINUTE)
    assert plan(ending, T0).next_due == T0 + HOUR
    last = plan(dataclasses.replace(ending, next_due=T0 + HOUR), T0 + HOUR)
    assert [key for key, _ in last.deliveries] == [(T0 + HOUR).isoformat()] and last.next_due is None


@pytest.mark.parametrize(("expression", "start", "now", "expected"), [
    ("rate(5 minutes)", None, T0 + dt.timedelta(seconds=30.5), T0 + dt.timedelta(seconds=30)),  # at once
    ("rate(5 minutes)", T0 + HOUR, T0, T0 + HOUR),  # from its start date
    ("cron(0 7 * * ? *)", None, T0, T0 + HOUR),
    ("cron(0 6 * * ? *)", None, T0, T0),  # a whole minute that is now
    ("at(2026-12-01T09:00:00)", None, T0, T0 + 3 * HOUR),
])
def test_first_due_times(expression, start, now, expected):
    assert first_due(parse_expression(expression), start, None, now) == expected


def test_retries_back_off_to_a_minute():
    assert [retry_delay(n) for n in (1, 2, 3, 7, 20)] == [1.0, 2.0, 4.0, 60.0, 60.0]
