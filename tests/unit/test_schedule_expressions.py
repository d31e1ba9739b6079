"""Schedule expressions: AWS's rate/cron/at dialect, the year field, L/W/#, and the DST rule AWS documents."""

from datetime import UTC, datetime, timedelta

import pytest

from faas.errors import InvalidScheduleExpression
from faas.services.schedule_expressions import parse_expression


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def firings(expression: str, zone: str, start: datetime, count: int) -> list[datetime]:
    parsed = parse_expression(expression, zone)
    out, instant = [], start
    for _ in range(count):
        instant = parsed.next_after(instant)
        if instant is None:
            break
        out.append(instant)
    return out


CASES = [
    # (expression, zone, after, expected due times)
    ("cron(0 12 * * ? *)", "UTC", utc(2026, 3, 1), [utc(2026, 3, 1, 12), utc(2026, 3, 2, 12)]),
    ("cron(0/15 * * * ? *)", "UTC", utc(2026, 3, 1, 10, 7), [utc(2026, 3, 1, 10, 15), utc(2026, 3, 1, 10, 30)]),
    # weekdays by name and by AWS's numbers (1 = Sunday): MON-FRI == 2-6
    ("cron(0 9 ? * MON-FRI *)", "UTC", utc(2026, 2, 27, 10), [utc(2026, 3, 2, 9), utc(2026, 3, 3, 9)]),
    ("cron(0 9 ? * 2-6 *)", "UTC", utc(2026, 2, 27, 10), [utc(2026, 3, 2, 9), utc(2026, 3, 3, 9)]),
    ("cron(0 9 ? * 1 *)", "UTC", utc(2026, 3, 2), [utc(2026, 3, 8, 9), utc(2026, 3, 15, 9)]),  # Sundays
    # L in day-of-month: the month's last day
    ("cron(0 0 L * ? *)", "UTC", utc(2026, 2, 1), [utc(2026, 2, 28), utc(2026, 3, 31), utc(2026, 4, 30)]),
    # 6L in day-of-week: the last Friday of the month
    ("cron(0 18 ? * 6L *)", "UTC", utc(2026, 3, 1), [utc(2026, 3, 27, 18), utc(2026, 4, 24, 18)]),
    # W: the weekday nearest the 15th (2026-03-15 is a Sunday, so Monday the 16th; 2026-08-15 a Saturday, so Friday)
    ("cron(0 8 15W * ? *)", "UTC", utc(2026, 3, 1), [utc(2026, 3, 16, 8), utc(2026, 4, 15, 8), utc(2026, 5, 15, 8)]),
    ("cron(0 8 15W 8 ? *)", "UTC", utc(2026, 1, 1), [utc(2026, 8, 14, 8)]),
    # #: the second Monday (AWS's 2#2)
    ("cron(0 7 ? * 2#2 *)", "UTC", utc(2026, 3, 1), [utc(2026, 3, 9, 7), utc(2026, 4, 13, 7)]),
    # the year field, which croniter lacks
    ("cron(0 0 1 1 ? 2027-2028)", "UTC", utc(2026, 6, 1), [utc(2027, 1, 1), utc(2028, 1, 1)]),
    ("cron(0 0 1 1 ? 2027)", "UTC", utc(2027, 6, 1), []),
    # a zone: 09:00 in New York is 14:00 UTC in winter, 13:00 in summer
    ("cron(0 9 ? * 2 *)", "America/New_York", utc(2026, 3, 1), [utc(2026, 3, 2, 14), utc(2026, 3, 9, 13)]),
    # spring forward in Berlin (2026-03-29, 02:00 -> 03:00): 02:30 does not exist that day and is skipped
    ("cron(30 2 * * ? *)", "Europe/Berlin", utc(2026, 3, 27, 12),
     [utc(2026, 3, 28, 1, 30), utc(2026, 3, 30, 0, 30), utc(2026, 3, 31, 0, 30)]),
    # fall back (2026-10-25, 03:00 -> 02:00): 02:30 occurs twice and runs once, at the first (summer-time) one
    ("cron(30 2 * * ? *)", "Europe/Berlin", utc(2026, 10, 24, 12), [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]),
    # the repeated hour, every half hour: the second 02:00 and 02:30 are not fired again
    ("cron(0/30 * * * ? *)", "Europe/Berlin", utc(2026, 10, 24, 23, 40),
     [utc(2026, 10, 25, 0), utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 2), utc(2026, 10, 25, 2, 30)]),
    # at(): a wall time in the zone, once
    ("at(2026-07-01T08:00:00)", "Europe/Berlin", utc(2026, 1, 1), [utc(2026, 7, 1, 6)]),
    ("at(2026-07-01T08:00:00)", "UTC", utc(2026, 7, 1, 8), []),
    # rates without an anchor count from the instant asked
    ("rate(5 minutes)", "UTC", utc(2026, 1, 1), [utc(2026, 1, 1, 0, 5), utc(2026, 1, 1, 0, 10)]),
    ("rate(1 hour)", "UTC", utc(2026, 1, 1), [utc(2026, 1, 1, 1)]),
    # rate(1 day) is 24 hours, also across a DST change
    ("rate(1 day)", "Europe/Berlin", utc(2026, 3, 28, 12), [utc(2026, 3, 29, 12), utc(2026, 3, 30, 12)]),
]


@pytest.mark.parametrize(("expression", "zone", "after", "expected"), CASES)
def test_due_times(expression: str, zone: str, after: datetime, expected: list[datetime]) -> None:
    assert firings(expression, zone, after, len(expected) + 1)[: len(expected) or 1] == (expected or [])


def test_a_rate_with_an_anchor_keeps_its_grid() -> None:
    anchor = utc(2026, 1, 1, 0, 0, 20)
    rate = parse_expression("rate(10 minutes)", "UTC", anchor=anchor)
    assert rate.next_after(utc(2025, 12, 31)) == anchor
    assert rate.next_after(anchor) == anchor + timedelta(minutes=10)
    assert rate.next_after(utc(2026, 1, 1, 1, 3)) == utc(2026, 1, 1, 1, 10, 20)


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 12 * * * *)",  # neither day field is ?
        "cron(0 12 ? * ? *)",  # both are
        "cron(0 12 * * ?)",  # five fields
        "cron(61 12 * * ? *)",
        "cron(0 12 ? * 8 *)",  # days of the week are 1-7
        "cron(0 12 31 2 ? *)",  # never matches
        "cron(0 12 * * ? 1969)",
        "cron(0 12 LW * ? *)",
        "rate(0 minutes)",
        "rate(1 minutes)",
        "rate(5 minute)",
        "rate(5 weeks)",
        "at(2026-13-01T00:00:00)",
        "at(2026-01-01 00:00:00)",
        "every day",
        "",
    ],
)
def test_invalid_expressions(expression: str) -> None:
    with pytest.raises(InvalidScheduleExpression):
        parse_expression(expression, "UTC")


def test_an_unknown_zone_is_refused() -> None:
    with pytest.raises(InvalidScheduleExpression, match="time zone"):
        parse_expression("rate(1 minute)", "Mars/Olympus_Mons")
