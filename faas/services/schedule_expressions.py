"""Schedule expressions as EventBridge Scheduler writes them: rate(), AWS six-field cron() and at(), in an IANA zone.

`parse_expression(text, timezone)` returns an Expression whose `next_after(instant)` is the first due time strictly
after `instant` (an aware datetime, returned in UTC), or None when there is none. croniter walks the cron fields;
this module translates AWS's dialect to it and owns the two things croniter does not do AWS's way:

- the year field (AWS's sixth field), which croniter lacks: candidates in other years are skipped;
- daylight-saving changes. AWS documents (EventBridge Scheduler user guide, "Daylight savings time"): when the
  clock shifts forward, a cron time that does not exist that day is skipped; when it shifts back, a time that
  occurs twice runs once, at its first occurrence. So cron fields are matched against local wall-clock times,
  a wall time inside the gap is dropped, and of a repeated wall time only the first (fold=0, summer time) counts.
  Rates are durations, not wall-clock times: rate(1 day) is every 24 hours, also across a DST change, as AWS says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

from faas.errors import InvalidScheduleExpression

_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)\Z")
_CRON = re.compile(r"cron\((.+)\)\Z")
_AT = re.compile(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)\Z")
_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_YEARS = range(1970, 2200)  # AWS's year field accepts 1970-2199
_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


class Expression:
    """A parsed schedule expression."""

    kind: str  # "rate", "cron" or "at"

    def next_after(self, instant: datetime) -> datetime | None:
        raise NotImplementedError


@dataclass(frozen=True)
class Rate(Expression):
    """Every `period` from `anchor` (the schedule's start); without an anchor, `period` after the instant asked."""

    period: timedelta
    anchor: datetime | None = None
    kind = "rate"

    def next_after(self, instant: datetime) -> datetime | None:
        if self.anchor is None:
            return (instant + self.period).astimezone(UTC)
        if instant < self.anchor:
            return self.anchor.astimezone(UTC)
        periods = (instant - self.anchor) // self.period + 1
        return (self.anchor + periods * self.period).astimezone(UTC)


@dataclass(frozen=True)
class At(Expression):
    """Once, at a wall-clock time in the zone."""

    when: datetime
    kind = "at"

    def next_after(self, instant: datetime) -> datetime | None:
        return self.when if self.when > instant else None


@dataclass(frozen=True)
class Cron(Expression):
    """Five croniter fields matched on local wall-clock time, and the set of years AWS's sixth field allows."""

    fields: str
    years: frozenset[int]
    zone: ZoneInfo
    kind = "cron"

    def next_after(self, instant: datetime) -> datetime | None:
        wall = instant.astimezone(self.zone).replace(tzinfo=None)
        # Start an hour back in wall time: after a fall-back, `instant` may be in the repeated hour, whose wall
        # times croniter would otherwise never revisit. Candidates not after `instant` are passed over below.
        walk = croniter(self.fields, wall - timedelta(hours=1))
        last_year = max(self.years)
        while True:
            try:
                candidate = walk.get_next(datetime)
            except CroniterBadDateError:  # croniter found no match within its search horizon
                return None
            if candidate.year > last_year:
                return None
            if candidate.year not in self.years:
                continue
            due = _existing(candidate, self.zone)
            if due is not None and due > instant:
                return due


def _existing(wall: datetime, zone: ZoneInfo) -> datetime | None:
    """The UTC instant of a wall-clock time in the zone: None inside a spring-forward gap; the first of the two
    instants of a repeated wall time (fold=0)."""
    local = wall.replace(tzinfo=zone, fold=0)
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        return None  # the wall time does not exist in this zone that day
    return instant


def parse_timezone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidScheduleExpression(f"Invalid time zone: {name}.") from exc


def parse_expression(text: str, timezone: str | None = "UTC", anchor: datetime | None = None) -> Expression:
    """Parse `rate(...)`, `cron(...)` or `at(...)`; `anchor` is where a rate starts counting (the schedule's start)."""
    zone = parse_timezone(timezone)
    text = (text or "").strip()
    if match := _RATE.match(text):
        value, unit = int(match.group(1)), match.group(2).rstrip("s")
        if value < 1:
            raise InvalidScheduleExpression(f"Invalid schedule expression: {text}. The rate value must be positive.")
        if (value == 1) != (match.group(2) == unit):
            # AWS: "1 minute" but "5 minutes"
            raise InvalidScheduleExpression(
                f"Invalid schedule expression: {text}. Use the singular unit for 1 and the plural for more."
            )
        return Rate(timedelta(seconds=value * _UNITS[unit]), anchor)
    if match := _AT.match(text):
        try:
            wall = datetime.fromisoformat(match.group(1))
        except ValueError as exc:
            raise InvalidScheduleExpression(f"Invalid schedule expression: {text}.") from exc
        return At(wall.replace(tzinfo=zone, fold=0).astimezone(UTC))
    if match := _CRON.match(text):
        fields, years = _translate_cron(match.group(1), text)
        return Cron(fields, years, zone)
    raise InvalidScheduleExpression(
        f"Invalid schedule expression: {text}. Use rate(value unit), cron(fields) or at(yyyy-mm-ddThh:mm:ss)."
    )


def _translate_cron(body: str, text: str) -> tuple[str, frozenset[int]]:
    """AWS's `minutes hours day-of-month month day-of-week year` to croniter's five fields and a year set."""
    parts = body.split()
    if len(parts) != 6:
        raise InvalidScheduleExpression(f"Invalid schedule expression: {text}. A cron expression has six fields.")
    minutes, hours, day_of_month, month, day_of_week, year = parts
    # AWS: one of day-of-month and day-of-week must be `?`, the other says which days.
    if (day_of_month == "?") == (day_of_week == "?"):
        raise InvalidScheduleExpression(
            f"Invalid schedule expression: {text}. Exactly one of day-of-month and day-of-week must be '?'."
        )
    if day_of_month.upper() == "LW":
        raise InvalidScheduleExpression(f"Invalid schedule expression: {text}. LW is not supported; use L or W.")
    fields = " ".join(
        [
            minutes,
            hours,
            "*" if day_of_month == "?" else day_of_month,
            month,
            "*" if day_of_week == "?" else _day_of_week(day_of_week, text),
        ]
    )
    if not croniter.is_valid(fields):
        raise InvalidScheduleExpression(f"Invalid schedule expression: {text}.")
    try:
        croniter(fields, datetime(2000, 1, 1)).get_next(datetime)
    except (CroniterBadCronError, CroniterBadDateError) as exc:  # e.g. 31 February: valid fields, no date
        raise InvalidScheduleExpression(f"Invalid schedule expression: {text}. It never matches a date.") from exc
    return fields, _years(year, text)


def _day_of_week(field: str, text: str) -> str:
    """AWS numbers days 1-7 from Sunday, croniter 0-6; AWS writes the last Friday `6L`, croniter `L5`."""

    def number(token: str) -> str:
        if token.upper() in _DAY_NAMES:
            return token
        if not token.isdigit() or not 1 <= int(token) <= 7:
            raise InvalidScheduleExpression(f"Invalid schedule expression: {text}. Days of the week are 1-7 or SUN-SAT.")
        return str(int(token) - 1)

    out = []
    for item in field.split(","):
        if item == "*":
            out.append(item)
        elif item.upper() == "L":
            out.append("6")  # the last day of the week: Saturday
        elif item.upper().endswith("L"):
            out.append("L" + number(item[:-1]))
        elif "#" in item:
            day, nth = item.split("#", 1)
            out.append(f"{number(day)}#{nth}")
        else:
            step = ""
            if "/" in item:
                item, step = item.split("/", 1)
                step = "/" + step
            out.append("-".join(number(token) for token in item.split("-")) + step)
    return ",".join(out)


def _years(field: str, text: str) -> frozenset[int]:
    years: set[int] = set()
    bad = InvalidScheduleExpression(f"Invalid schedule expression: {text}. Years are 1970-2199.")
    for item in field.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else (1 if not step_text else 0)
        if step == 0:
            raise bad
        if base == "*":
            first, last = _YEARS.start, _YEARS.stop - 1
        elif "-" in base:
            low, _, high = base.partition("-")
            if not (low.isdigit() and high.isdigit()):
                raise bad
            first, last = int(low), int(high)
        elif base.isdigit():
            first = int(base)
            last = _YEARS.stop - 1 if step_text else first
        else:
            raise bad
        if first not in _YEARS or last not in _YEARS or first > last:
            raise bad
        years.update(range(first, last + 1, step))
    return frozenset(years)
