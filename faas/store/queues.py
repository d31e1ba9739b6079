"""SQS queues' metadata in SQL: name, attributes, tags and times. A queue's messages are leased work items of
kind `message_kind(name)` (faas/store/work.py), so deleting a queue drops them in the same transaction."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from faas.store.functions import as_utc
from faas.store.tables import queues, work_items


def message_kind(name: str) -> str:
    """The work-item kind a queue's messages wait under."""
    return f"sqs:{name}"


@dataclasses.dataclass(frozen=True)
class Queue:
    name: str
    attributes: dict[str, str]
    tags: dict[str, str]
    created_at: dt.datetime
    modified_at: dt.datetime


def _queue(row) -> Queue:  # type: ignore[no-untyped-def]
    return Queue(row.name, json.loads(row.attributes), json.loads(row.tags), as_utc(row.created_at),
                 as_utc(row.modified_at))


class QueueStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, queue: Queue) -> Queue:
        """Store a new queue; when one of that name exists already, nothing changes and that one is returned."""
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(queues).values(
                    name=queue.name, attributes=json.dumps(queue.attributes), tags=json.dumps(queue.tags),
                    created_at=queue.created_at, modified_at=queue.modified_at))
            return queue
        except IntegrityError:
            existing = await self.get(queue.name)
            if existing is None:  # deleted again in between: try once more
                return await self.create(queue)
            return existing

    async def get(self, name: str) -> Queue | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(queues).where(queues.c.name == name))).first()
        return _queue(row) if row is not None else None

    async def list(self, prefix: str, *, after: str, limit: int) -> list[Queue]:
        """Queues whose name starts with `prefix`, in name order, from the first after `after`."""
        query = select(queues).where(queues.c.name > after).order_by(queues.c.name).limit(limit)
        if prefix:
            query = query.where(queues.c.name.startswith(prefix, autoescape=True))  # `_` is a LIKE wildcard
        async with self._engine.connect() as conn:
            return [_queue(row) for row in (await conn.execute(query)).all()]

    async def set_attributes(self, name: str, attributes: dict[str, str], at: dt.datetime) -> bool:
        return await self._update(name, attributes=json.dumps(attributes), modified_at=at)

    async def set_tags(self, name: str, tags: dict[str, str]) -> bool:
        return await self._update(name, tags=json.dumps(tags))

    async def delete(self, name: str) -> bool:
        """The queue goes, and its messages with it."""
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(queues).where(queues.c.name == name))
            await conn.execute(delete(work_items).where(work_items.c.kind == message_kind(name)))
        return result.rowcount == 1

    async def _update(self, name: str, **values: object) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(update(queues).where(queues.c.name == name).values(**values))
        return result.rowcount == 1
