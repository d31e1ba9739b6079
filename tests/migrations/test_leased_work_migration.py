"""Migration 0006 moves queued asynchronous invocations from async_events into leased work without losing
or changing one, on SQLite and on PostgreSQL, and its downgrade puts them back."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import command

from faas.sources.async_events import ASYNC, decode_event
from faas.store.db import alembic_config, create_engine, migrate
from faas.store.work import WorkStore

T0 = dt.datetime(2026, 11, 30, 9, 0, 0, 500000, tzinfo=dt.timezone.utc)
OLD = sa.table(  # async_events as revision 0004 made it
    "async_events", sa.column("request_id", sa.String), sa.column("function_name", sa.String),
    sa.column("payload", sa.LargeBinary), sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("attempts", sa.Integer), sa.column("next_attempt_at", sa.DateTime(timezone=True)),
    sa.column("lease_until", sa.DateTime(timezone=True)), sa.column("node", sa.String),
    sa.column("status", sa.String))
EVENTS = [
    # waiting for its retry
    {"request_id": "req-queued", "function_name": "orders", "payload": b'{"n": 1}\n\x00\xff',
     "created_at": T0, "attempts": 1, "next_attempt_at": T0 + dt.timedelta(seconds=60), "lease_until": None,
     "node": None, "status": "queued"},
    # running on node-a when the old release stopped
    {"request_id": "req-running", "function_name": "billing", "payload": b"{}", "created_at": T0,
     "attempts": 2, "next_attempt_at": T0, "lease_until": T0 + dt.timedelta(seconds=960), "node": "node-a",
     "status": "running"},
]


def _alembic(sync_connection, step, revision: str) -> None:  # type: ignore[no-untyped-def]
    config = alembic_config()
    config.attributes["connection"] = sync_connection
    step(config, revision)


def _as_utc(row: dict) -> dict:
    return {k: v.replace(tzinfo=dt.timezone.utc) if isinstance(v, dt.datetime) and v.tzinfo is None else v
            for k, v in row.items()}


async def test_queued_and_running_events_move_into_leased_work_and_back(database_url):
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_alembic, command.upgrade, "0004")
            await conn.execute(sa.insert(OLD), EVENTS)
        await migrate(engine)

        # The running event stays node-a's until its lease ends; the queued one waits for its retry.
        work = WorkStore(engine)
        assert await work.claim(ASYNC, "node-b", lease_s=60, limit=10, now=T0 + dt.timedelta(seconds=59)) == []
        [queued] = await work.claim(ASYNC, "node-b", lease_s=60, limit=10, now=T0 + dt.timedelta(seconds=60))
        event = decode_event(queued)
        assert (event.request_id, event.function_name, event.payload, event.created_at, event.attempts) == (
            "req-queued", "orders", b'{"n": 1}\n\x00\xff', T0, 2)
        assert await work.release(queued.id, "node-b", delay_s=60, now=T0, count_attempt=False)  # as it was
        assert await work.reclaim_owner("node-a", now=T0 + dt.timedelta(seconds=1)) == 1
        [running] = await work.claim(ASYNC, "node-a", lease_s=960, limit=10, now=T0 + dt.timedelta(seconds=1))
        event = decode_event(running)
        assert (event.request_id, event.function_name, event.payload, event.attempts) == (
            "req-running", "billing", b"{}", 3)

        async with engine.begin() as conn:
            await conn.run_sync(_alembic, command.downgrade, "0005")  # back before 0006
            rows = [_as_utc(dict(row)) for row in (await conn.execute(
                sa.select(OLD).order_by(OLD.c.request_id))).mappings()]
            tables = await conn.run_sync(lambda c: set(sa.inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    assert "work_items" not in tables
    assert rows == [
        EVENTS[0] | {"attempts": 1},
        EVENTS[1] | {"attempts": 3, "next_attempt_at": T0 + dt.timedelta(seconds=961),
                     "lease_until": T0 + dt.timedelta(seconds=961)},
    ]
