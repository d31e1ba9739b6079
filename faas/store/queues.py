"""SQS queues' metadata in SQL: name, attributes, tags and times. A queue's messages are leased work items of
kind `message_kind(name)` (faas/store/work.py), so deleting a queue drops them in the same transaction.

A FIFO queue's message is added in one transaction with its deduplication id (`queue_deduplication`), so a
message that was accepted is always found by a duplicate of it, after a crash or a restart too; its work
item's id, which only grows, is its SequenceNumber."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from faas.store.functions import as_utc
from faas.store.tables import queue_deduplication, queues, work_items


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


@dataclasses.dataclass(frozen=True)
class FifoMessage:
    message_id: str
    group: str
    scope: str  # the deduplication scope: the group under DeduplicationScope=messageGroup, else ""
    deduplication_id: str
    payload: bytes


@dataclasses.dataclass(frozen=True)
class FifoAccepted:
    message_id: str  # the original's when this was a duplicate
    sequence_number: int
    duplicate: bool


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
        """The queue goes, and its messages and deduplication ids with it."""
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(queues).where(queues.c.name == name))
            await conn.execute(delete(work_items).where(work_items.c.kind == message_kind(name)))
            await conn.execute(delete(queue_deduplication).where(queue_deduplication.c.queue == name))
        return result.rowcount == 1

    async def add_fifo(self, name: str, messages: list[FifoMessage], *, now: dt.datetime, due_at: dt.datetime,
                       window: dt.timedelta) -> list[FifoAccepted]:
        """Add FIFO messages in order, in one transaction, each unless its deduplication id was accepted within
        `window` (then the original is answered and nothing is stored). Two nodes adding the same id at once
        both try to insert it; the loser's transaction fails on the key, and a retry finds the winner's."""
        for _ in range(2):
            try:
                return await self._add_fifo(name, messages, now=now, due_at=due_at, window=window)
            except IntegrityError:
                continue
        return await self._add_fifo(name, messages, now=now, due_at=due_at, window=window)

    async def _add_fifo(self, name: str, messages: list[FifoMessage], *, now: dt.datetime, due_at: dt.datetime,
                        window: dt.timedelta) -> list[FifoAccepted]:
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        accepted = []
        async with self._engine.begin() as conn:
            for message in messages:
                key = (queue_deduplication.c.queue == name, queue_deduplication.c.scope == message.scope,
                       queue_deduplication.c.deduplication_id == message.deduplication_id)
                seen = (await conn.execute(select(queue_deduplication).where(*key))).first()
                if seen is not None and as_utc(seen.expires_at) > now:
                    accepted.append(FifoAccepted(seen.message_id, seen.sequence_number, True))
                    continue
                if seen is not None:
                    await conn.execute(delete(queue_deduplication).where(*key))
                item_id = (await conn.execute(
                    dialect.insert(work_items).values(
                        kind=message_kind(name), key=message.message_id, group_key=message.group,
                        payload=message.payload, created_at=now, due_at=due_at, attempts=0, owner=None)
                    .returning(work_items.c.id))).scalar_one()
                await conn.execute(insert(queue_deduplication).values(
                    queue=name, scope=message.scope, deduplication_id=message.deduplication_id,
                    message_id=message.message_id, sequence_number=item_id, expires_at=now + window))
                accepted.append(FifoAccepted(message.message_id, item_id, False))
        return accepted

    async def forget_deduplication(self, name: str, *, now: dt.datetime) -> int:
        """Drop a queue's deduplication ids whose interval ended. Returns how many went."""
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(queue_deduplication).where(
                queue_deduplication.c.queue == name, queue_deduplication.c.expires_at <= now))
        return result.rowcount

    async def _update(self, name: str, **values: object) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(update(queues).where(queues.c.name == name).values(**values))
        return result.rowcount == 1
