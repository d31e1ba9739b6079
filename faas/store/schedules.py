"""Schedules and schedule groups in SQL, and the one statement that makes a firing happen exactly once.

A schedule row holds its next due time (`next_due`) and when it fires (`fire_at`). A node fires a due time by
a compare-and-swap: it moves `next_due` on from the value it read and, in the same transaction, queues the
delivery as leased work (faas/store/work.py). Of nodes racing for one due time only one swap matches (on
PostgreSQL the loser's UPDATE waits for the winner's commit, then matches no row; SQLite has one writer), and a
crash before the commit leaves both undone: no firing is lost or doubled, and no leader is needed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from faas.store.functions import as_utc
from faas.store.tables import schedule_groups, schedules, work_items

DEFAULT_GROUP = "default"


class AlreadyExists(Exception):
    """A schedule or group of that name is already stored."""


@dataclasses.dataclass(frozen=True)
class Group:
    name: str
    created_at: dt.datetime
    last_modified: dt.datetime


@dataclasses.dataclass(frozen=True)
class Schedule:
    group_name: str
    name: str
    expression: str
    timezone: str
    start_date: dt.datetime | None
    end_date: dt.datetime | None
    description: str
    enabled: bool
    target: dict[str, Any]
    flexible_window_min: int | None
    delete_after_completion: bool
    next_due: dt.datetime | None
    fire_at: dt.datetime | None
    skipped: int
    last_skipped_at: dt.datetime | None
    created_at: dt.datetime
    last_modified: dt.datetime
    client_token: str | None = None  # the CreateSchedule request's idempotency token


@dataclasses.dataclass(frozen=True)
class Firing:
    """What firing one schedule's due times writes: the due time it moves on to (None: none left, or the row goes
    when `delete_row`), the due times skipped, and the deliveries to queue as (key, payload) work items."""

    next_due: dt.datetime | None
    fire_at: dt.datetime | None
    skipped: int
    last_skipped_at: dt.datetime | None
    deliveries: list[tuple[str, bytes]]
    delete_row: bool = False


def _opt(value: dt.datetime | None) -> dt.datetime | None:
    return as_utc(value) if value is not None else None


def _schedule(row) -> Schedule:  # type: ignore[no-untyped-def]
    return Schedule(row.group_name, row.name, row.expression, row.timezone, _opt(row.start_date), _opt(row.end_date),
                    row.description, bool(row.enabled), json.loads(row.target), row.flexible_window_min,
                    bool(row.delete_after_completion), _opt(row.next_due), _opt(row.fire_at), row.skipped,
                    _opt(row.last_skipped_at), as_utc(row.created_at), as_utc(row.last_modified), row.client_token)


def _row(schedule: Schedule) -> dict[str, Any]:
    values = dataclasses.asdict(schedule)
    values["target"] = json.dumps(schedule.target)
    return values


class ScheduleStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # -- groups -----------------------------------------------------------------------------------

    async def add_group(self, group: Group) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(schedule_groups).values(**dataclasses.asdict(group)))
        except IntegrityError as exc:
            raise AlreadyExists(group.name) from exc

    async def get_group(self, name: str) -> Group | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(schedule_groups).where(schedule_groups.c.name == name))).first()
        return Group(row.name, as_utc(row.created_at), as_utc(row.last_modified)) if row else None

    async def list_groups(self, prefix: str | None, after: str | None, limit: int) -> list[Group]:
        query = select(schedule_groups).order_by(schedule_groups.c.name).limit(limit)
        if prefix:
            query = query.where(schedule_groups.c.name.startswith(prefix, autoescape=True))
        if after:
            query = query.where(schedule_groups.c.name > after)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [Group(row.name, as_utc(row.created_at), as_utc(row.last_modified)) for row in rows]

    async def delete_group(self, name: str) -> bool:
        """The group and its schedules (AWS deletes them with it)."""
        async with self._engine.begin() as conn:
            await conn.execute(delete(schedules).where(schedules.c.group_name == name))
            result = await conn.execute(delete(schedule_groups).where(schedule_groups.c.name == name))
        return result.rowcount == 1

    # -- schedules --------------------------------------------------------------------------------

    async def add(self, schedule: Schedule) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(schedules).values(**_row(schedule)))
        except IntegrityError as exc:
            raise AlreadyExists(schedule.name) from exc

    async def replace(self, schedule: Schedule) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(update(schedules).where(
                schedules.c.group_name == schedule.group_name, schedules.c.name == schedule.name,
            ).values(**_row(schedule)))
        return result.rowcount == 1

    async def get(self, group: str, name: str) -> Schedule | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(schedules).where(schedules.c.group_name == group,
                                                              schedules.c.name == name))).first()
        return _schedule(row) if row else None

    async def delete(self, group: str, name: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(schedules).where(schedules.c.group_name == group,
                                                                schedules.c.name == name))
        return result.rowcount == 1

    async def list(self, *, group: str | None, prefix: str | None, enabled: bool | None,
                   after: tuple[str, str] | None, limit: int) -> list[Schedule]:
        """By group, then name; `after` is the (group, name) the previous page ended with."""
        query = select(schedules).order_by(schedules.c.group_name, schedules.c.name).limit(limit)
        if group is not None:
            query = query.where(schedules.c.group_name == group)
        if prefix:
            query = query.where(schedules.c.name.startswith(prefix, autoescape=True))
        if enabled is not None:
            query = query.where(schedules.c.enabled == enabled)
        if after is not None:
            query = query.where((schedules.c.group_name > after[0])
                                | ((schedules.c.group_name == after[0]) & (schedules.c.name > after[1])))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_schedule(row) for row in rows]

    # -- firing -----------------------------------------------------------------------------------

    async def due(self, now: dt.datetime, limit: int) -> list[Schedule]:
        """Enabled schedules whose firing time has come, earliest first."""
        query = (select(schedules).where(schedules.c.enabled.is_(True), schedules.c.fire_at <= now)
                 .order_by(schedules.c.fire_at).limit(limit))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_schedule(row) for row in rows]

    async def earliest(self) -> dt.datetime | None:
        """When the next enabled schedule fires, if any does."""
        async with self._engine.connect() as conn:
            value = (await conn.execute(select(func.min(schedules.c.fire_at))
                                        .where(schedules.c.enabled.is_(True)))).scalar()
        return _opt(value)

    async def fire(self, schedule: Schedule, firing: Firing, *, kind: str, now: dt.datetime) -> bool:
        """Move the schedule on from the due time it was read with and queue its deliveries, in one transaction.
        False (and nothing written) when another node moved it first, or it was changed or deleted meanwhile."""
        read_as = (schedules.c.group_name == schedule.group_name, schedules.c.name == schedule.name,
                   schedules.c.next_due == schedule.next_due, schedules.c.last_modified == schedule.last_modified)
        if firing.delete_row:
            swap = delete(schedules).where(*read_as)
        else:
            swap = update(schedules).where(*read_as).values(
                next_due=firing.next_due, fire_at=firing.fire_at, skipped=schedules.c.skipped + firing.skipped,
                last_skipped_at=func.coalesce(firing.last_skipped_at, schedules.c.last_skipped_at))
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        async with self._engine.begin() as conn:
            if (await conn.execute(swap)).rowcount != 1:
                return False
            if firing.deliveries:
                # A key already queued (it cannot be, once the swap matched) would be skipped, never doubled.
                queue = dialect.insert(work_items).on_conflict_do_nothing(
                    index_elements=[work_items.c.kind, work_items.c.key])
                await conn.execute(queue, [
                    {"kind": kind, "key": key, "group_key": None, "payload": payload, "created_at": now,
                     "due_at": now, "attempts": 0, "owner": None} for key, payload in firing.deliveries])
        return True
