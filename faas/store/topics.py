"""SNS topics in SQL: topics (attributes, tags, a FIFO topic's sequence), their subscriptions, and FIFO topics'
deduplication ids. A publish writes every delivery it fans out to as a work item (faas/store/work.py) in one
transaction, with its deduplication id: once `publish` returns, every delivery is durable, or none is."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from faas.store.functions import as_utc
from faas.store.tables import topic_deduplication, topic_subscriptions, topics, work_items


@dataclasses.dataclass(frozen=True)
class Topic:
    name: str
    attributes: dict[str, str]
    tags: dict[str, str]
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class Subscription:
    id: str
    topic: str
    protocol: str
    endpoint: str
    owner: str
    attributes: dict[str, str]
    confirmed: bool
    token_hash: str | None
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class Work:
    """One work item a publish adds: a delivery, or an asynchronous invocation."""

    kind: str
    key: str
    payload: bytes
    group: str | None = None


@dataclasses.dataclass(frozen=True)
class Published:
    message_id: str  # the original's when this was a duplicate
    sequence_number: int
    duplicate: bool = False


def _topic(row) -> Topic:  # type: ignore[no-untyped-def]
    return Topic(row.name, json.loads(row.attributes), json.loads(row.tags), as_utc(row.created_at))


def _subscription(row) -> Subscription:  # type: ignore[no-untyped-def]
    return Subscription(row.id, row.topic, row.protocol, row.endpoint, row.owner, json.loads(row.attributes),
                        bool(row.confirmed), row.token_hash, as_utc(row.created_at))


class TopicStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # ---- topics ----

    async def create(self, topic: Topic) -> Topic:
        """Store a new topic; when one of that name exists already, nothing changes and that one is returned."""
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(topics).values(
                    name=topic.name, attributes=json.dumps(topic.attributes), tags=json.dumps(topic.tags),
                    sequence=0, created_at=topic.created_at))
            return topic
        except IntegrityError:
            existing = await self.get(topic.name)
            return existing if existing is not None else await self.create(topic)

    async def get(self, name: str) -> Topic | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(topics).where(topics.c.name == name))).first()
        return _topic(row) if row is not None else None

    async def list(self, *, after: str, limit: int) -> list[Topic]:
        query = select(topics).where(topics.c.name > after).order_by(topics.c.name).limit(limit)
        async with self._engine.connect() as conn:
            return [_topic(row) for row in (await conn.execute(query)).all()]

    async def set_attributes(self, name: str, attributes: dict[str, str]) -> bool:
        return await self._update(topics, topics.c.name == name, attributes=json.dumps(attributes))

    async def set_tags(self, name: str, tags: dict[str, str]) -> bool:
        return await self._update(topics, topics.c.name == name, tags=json.dumps(tags))

    async def delete(self, name: str) -> bool:
        """The topic goes, with its subscriptions and deduplication ids. Queue and HTTP deliveries not yet made
        are dropped by the source that finds their subscription gone; function deliveries, asynchronous
        invocations already, still run."""
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(topics).where(topics.c.name == name))
            await conn.execute(delete(topic_subscriptions).where(topic_subscriptions.c.topic == name))
            await conn.execute(delete(topic_deduplication).where(topic_deduplication.c.topic == name))
        return result.rowcount == 1

    # ---- subscriptions ----

    async def subscribe(self, subscription: Subscription, work: list[Work], now: dt.datetime) -> Subscription:
        """Store a subscription, with the work it starts (an HTTP endpoint's confirmation request), in one
        transaction. The same topic, protocol and endpoint again answers the existing subscription."""
        async with self._engine.begin() as conn:
            existing = (await conn.execute(select(topic_subscriptions).where(
                topic_subscriptions.c.topic == subscription.topic,
                topic_subscriptions.c.protocol == subscription.protocol,
                topic_subscriptions.c.endpoint == subscription.endpoint))).first()
            if existing is not None:
                return _subscription(existing)
            await conn.execute(insert(topic_subscriptions).values(
                id=subscription.id, topic=subscription.topic, protocol=subscription.protocol,
                endpoint=subscription.endpoint, owner=subscription.owner,
                attributes=json.dumps(subscription.attributes), confirmed=subscription.confirmed,
                token_hash=subscription.token_hash, created_at=subscription.created_at))
            await self._add_work(conn, work, now)
        return subscription

    async def subscription(self, subscription_id: str) -> Subscription | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(topic_subscriptions)
                                      .where(topic_subscriptions.c.id == subscription_id))).first()
        return _subscription(row) if row is not None else None

    async def subscriptions(self, topic: str | None, *, after: str = "", limit: int | None = None,
                            confirmed_only: bool = False) -> list[Subscription]:
        """A topic's subscriptions (every topic's with None), in id order from the first after `after`."""
        query = select(topic_subscriptions).where(topic_subscriptions.c.id > after).order_by(topic_subscriptions.c.id)
        if topic is not None:
            query = query.where(topic_subscriptions.c.topic == topic)
        if confirmed_only:
            query = query.where(topic_subscriptions.c.confirmed.is_(True))
        if limit is not None:
            query = query.limit(limit)
        async with self._engine.connect() as conn:
            return [_subscription(row) for row in (await conn.execute(query)).all()]

    async def confirm(self, topic: str, token_hash: str) -> Subscription | None:
        """Confirm the topic's subscription that was sent this token; its hash is kept, so confirming it again
        answers the same subscription."""
        condition = (topic_subscriptions.c.topic == topic, topic_subscriptions.c.token_hash == token_hash)
        async with self._engine.begin() as conn:
            await conn.execute(update(topic_subscriptions).where(*condition).values(confirmed=True))
            row = (await conn.execute(select(topic_subscriptions).where(*condition))).first()
        return _subscription(row) if row is not None else None

    async def set_subscription_attributes(self, subscription_id: str, attributes: dict[str, str]) -> bool:
        return await self._update(topic_subscriptions, topic_subscriptions.c.id == subscription_id,
                                  attributes=json.dumps(attributes))

    async def unsubscribe(self, subscription_id: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(topic_subscriptions).where(topic_subscriptions.c.id == subscription_id))
        return result.rowcount == 1

    # ---- publishing ----

    async def add_deliveries(self, work: list[Work], *, now: dt.datetime) -> None:
        """Record the deliveries of a standard topic's messages, all in one transaction."""
        async with self._engine.begin() as conn:
            await self._add_work(conn, work, now)

    async def publish_fifo(self, topic: str, message_id: str, work: list[Work], *, now: dt.datetime,
                           deduplication_id: str, window: dt.timedelta) -> Published:
        """Record a FIFO topic's message in one transaction: it takes the topic's next SequenceNumber and its
        deliveries are added, unless its deduplication id was accepted within `window`: then the original is
        answered and nothing is stored. Two nodes adding the same id at once both try to insert it; the
        loser's transaction fails on the key, and a retry finds the winner's."""
        for attempt in range(3):
            try:
                return await self._publish_fifo(topic, message_id, work, now=now, deduplication_id=deduplication_id,
                                                 window=window)
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _publish_fifo(self, topic: str, message_id: str, work: list[Work], *, now: dt.datetime,
                            deduplication_id: str, window: dt.timedelta) -> Published:
        async with self._engine.begin() as conn:
            key = (topic_deduplication.c.topic == topic, topic_deduplication.c.deduplication_id == deduplication_id)
            seen = (await conn.execute(select(topic_deduplication).where(*key))).first()
            if seen is not None and as_utc(seen.expires_at) > now:
                return Published(seen.message_id, seen.sequence_number, duplicate=True)
            if seen is not None:
                await conn.execute(delete(topic_deduplication).where(*key))
            # Taking the number locks the topic's row: a FIFO topic's publishes are written one at a time.
            sequence = (await conn.execute(update(topics).where(topics.c.name == topic)
                                           .values(sequence=topics.c.sequence + 1)
                                           .returning(topics.c.sequence))).scalar_one_or_none()
            if sequence is None:  # deleted since it was read: nothing to deliver to
                return Published(message_id, 0)
            await conn.execute(insert(topic_deduplication).values(
                topic=topic, deduplication_id=deduplication_id, message_id=message_id, sequence_number=sequence,
                expires_at=now + window))
            await self._add_work(conn, work, now)
            return Published(message_id, sequence)

    async def forget_deduplication(self, topic: str, *, now: dt.datetime) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(topic_deduplication).where(
                topic_deduplication.c.topic == topic, topic_deduplication.c.expires_at <= now))
        return result.rowcount

    async def _add_work(self, conn, work: list[Work], now: dt.datetime) -> None:  # type: ignore[no-untyped-def]
        if not work:
            return
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        new = dialect.insert(work_items).on_conflict_do_nothing(index_elements=[work_items.c.kind, work_items.c.key])
        await conn.execute(new, [{"kind": item.kind, "key": item.key, "group_key": item.group,
                                  "payload": item.payload, "created_at": now, "due_at": now, "attempts": 0,
                                  "owner": None} for item in work])

    async def _update(self, table, condition, **values: object) -> bool:  # type: ignore[no-untyped-def]
        async with self._engine.begin() as conn:
            result = await conn.execute(update(table).where(condition).values(**values))
        return result.rowcount == 1
