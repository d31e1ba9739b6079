"""The schedule store on SQLite and PostgreSQL: the compare-and-swap that fires a due time once however many
nodes race for it, and what it leaves behind (the delivery as leased work, the next due time, or no row)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import pytest

from faas.store.db import create_engine
from faas.store.schedules import DEFAULT_GROUP, AlreadyExists, Firing, Group, Schedule, ScheduleStore
from faas.store.work import WorkStore

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)
MINUTE = dt.timedelta(minutes=1)


def schedule(name: str = "nightly", group: str = DEFAULT_GROUP, **changes) -> Schedule:  # type: ignore[no-untyped-def]
    base = Schedule(group, name, "rate(1 minute)", "UTC", None, None, "", True,
                    {"Arn": "arn:aws:sqs:us-east-1:000000000000:q", "RoleArn": "arn:aws:iam::000000000000:role/r"},
                    None, False, NOW, NOW, 0, None, NOW - MINUTE, NOW - MINUTE)
    return dataclasses.replace(base, **changes)


def advance(key: str) -> Firing:
    return Firing(next_due=NOW + MINUTE, fire_at=NOW + MINUTE, skipped=0, last_skipped_at=None,
                  deliveries=[(key, b"{}")])


async def test_only_one_of_racing_nodes_fires_a_due_time(engine, database_url):
    store = ScheduleStore(engine)
    await store.add(schedule())
    read = (await store.due(NOW, 10))[0]
    # A second node: its own engine, so on PostgreSQL the two swaps run on two connections at once.
    other = create_engine(database_url)
    try:
        results = await asyncio.gather(
            *(ScheduleStore(e).fire(read, advance("default/nightly@12:00"), kind="schedule", now=NOW)
              for e in (engine, other, engine, other)))
    finally:
        await other.dispose()
    assert sorted(results) == [False, False, False, True]
    assert (await WorkStore(engine).depth("schedule", now=NOW)).due == 1
    stored = await store.get(DEFAULT_GROUP, "nightly")
    assert (stored.next_due, stored.fire_at) == (NOW + MINUTE, NOW + MINUTE)
    assert await store.due(NOW, 10) == [] and await store.earliest() == NOW + MINUTE


async def test_a_schedule_changed_since_it_was_read_is_not_fired(engine):
    store = ScheduleStore(engine)
    await store.add(schedule())
    read = (await store.due(NOW, 10))[0]
    await store.replace(dataclasses.replace(read, expression="rate(5 minutes)", last_modified=NOW))
    assert not await store.fire(read, advance("k"), kind="schedule", now=NOW)
    assert (await WorkStore(engine).depth("schedule", now=NOW)).due == 0


async def test_a_completed_schedule_goes_and_skips_are_counted(engine):
    store = ScheduleStore(engine)
    await store.add(schedule("once", expression="at(2026-12-01T12:00:00)", delete_after_completion=True))
    await store.add(schedule("late"))
    once, late = sorted(await store.due(NOW, 10), key=lambda s: s.name, reverse=True)
    done = Firing(next_due=None, fire_at=None, skipped=0, last_skipped_at=None, deliveries=[("once", b"{}")],
                  delete_row=True)
    assert await store.fire(once, done, kind="schedule", now=NOW)
    assert await store.get(DEFAULT_GROUP, "once") is None
    skipping = Firing(next_due=NOW + MINUTE, fire_at=NOW + MINUTE, skipped=3, last_skipped_at=NOW - MINUTE,
                      deliveries=[])
    assert await store.fire(late, skipping, kind="schedule", now=NOW)
    stored = await store.get(DEFAULT_GROUP, "late")
    assert (stored.skipped, stored.last_skipped_at) == (3, NOW - MINUTE)


async def test_disabled_schedules_are_not_due_and_groups_take_their_schedules_with_them(engine):
    store = ScheduleStore(engine)
    await store.add_group(Group("team", NOW, NOW))
    with pytest.raises(AlreadyExists):
        await store.add_group(Group("team", NOW, NOW))
    await store.add(schedule("a", group="team"))
    await store.add(schedule("b", group="team", enabled=False))
    with pytest.raises(AlreadyExists):
        await store.add(schedule("a", group="team"))
    assert [s.name for s in await store.due(NOW, 10)] == ["a"]
    assert [s.name for s in await store.list(group="team", prefix=None, enabled=False, after=None, limit=10)] == ["b"]
    assert [s.name for s in await store.list(group=None, prefix="", enabled=None, after=("team", "a"), limit=10)] \
        == ["b"]
    assert await store.delete_group("team")
    assert await store.list(group="team", prefix=None, enabled=None, after=None, limit=10) == []
    assert [g.name for g in await store.list_groups(None, None, 10)] == [DEFAULT_GROUP]
