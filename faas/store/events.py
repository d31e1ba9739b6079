"""Asynchronous invocations and their per-function settings in SQL.

An event row exists from the moment 202 is answered until its last attempt is over, so a crash
never loses one: a node claims a due event with a lease, and an event whose lease ran out (its node
died) or that the restarted node itself held is queued again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from faas.store.functions import as_utc
from faas.store.tables import async_events, event_invoke_configs


@dataclasses.dataclass(frozen=True)
class AsyncEvent:
    request_id: str
    function_name: str
    payload: bytes
    created_at: dt.datetime
    attempts: int
    next_attempt_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class EventInvokeConfig:
    function_name: str
    maximum_retry_attempts: int
    maximum_event_age_s: int
    on_success: str | None
    on_failure: str | None
    last_modified: dt.datetime


def _event(row) -> AsyncEvent:  # type: ignore[no-untyped-def]
    return AsyncEvent(row.request_id, row.function_name, bytes(row.payload), as_utc(row.created_at), row.attempts,
                      as_utc(row.next_attempt_at))


class EventStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, event: AsyncEvent) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(insert(async_events).values(
                request_id=event.request_id, function_name=event.function_name, payload=event.payload,
                created_at=event.created_at, attempts=event.attempts, next_attempt_at=event.next_attempt_at,
                status="queued"))

    async def claim_due(self, now: dt.datetime, node: str, lease_s: float, limit: int) -> list[AsyncEvent]:
        """Take up to `limit` due events for this node: queued ones whose time came, and running ones
        whose node's lease ran out. Each claim counts as an attempt."""
        due = or_(and_(async_events.c.status == "queued", async_events.c.next_attempt_at <= now),
                  and_(async_events.c.status == "running", async_events.c.lease_until < now))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(async_events).where(due)
                                       .order_by(async_events.c.next_attempt_at).limit(limit))).all()
        claimed = []
        for row in rows:
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    update(async_events).where(async_events.c.request_id == row.request_id, due)
                    .values(status="running", attempts=async_events.c.attempts + 1, node=node,
                            lease_until=now + dt.timedelta(seconds=lease_s)))
            if result.rowcount == 1:  # another node may have taken it meanwhile
                claimed.append(dataclasses.replace(_event(row), attempts=row.attempts + 1))
        return claimed

    async def requeue_node(self, node: str) -> int:
        """At start: what this node was running when it stopped runs again."""
        async with self._engine.begin() as conn:
            result = await conn.execute(update(async_events).where(
                async_events.c.status == "running", async_events.c.node == node).values(status="queued",
                                                                                        lease_until=None))
        return result.rowcount

    async def retry_at(self, request_id: str, at: dt.datetime, *, count_attempt: bool = True) -> None:
        values: dict = {"status": "queued", "next_attempt_at": at, "lease_until": None, "node": None}
        if not count_attempt:  # a throttled run never reached the function
            values["attempts"] = async_events.c.attempts - 1
        async with self._engine.begin() as conn:
            await conn.execute(update(async_events).where(async_events.c.request_id == request_id).values(**values))

    async def done(self, request_id: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(async_events).where(async_events.c.request_id == request_id))

    # -- event-invoke configs ----------------------------------------------------------------------

    async def put_config(self, config: EventInvokeConfig) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(event_invoke_configs).where(
                event_invoke_configs.c.function_name == config.function_name))
            await conn.execute(insert(event_invoke_configs).values(**dataclasses.asdict(config)))

    async def config(self, function_name: str) -> EventInvokeConfig | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(event_invoke_configs).where(
                event_invoke_configs.c.function_name == function_name))).first()
        if row is None:
            return None
        return EventInvokeConfig(row.function_name, row.maximum_retry_attempts, row.maximum_event_age_s,
                                 row.on_success, row.on_failure, as_utc(row.last_modified))

    async def delete_config(self, function_name: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(event_invoke_configs).where(
                event_invoke_configs.c.function_name == function_name))
        return result.rowcount == 1
