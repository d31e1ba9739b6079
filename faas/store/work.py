"""Leased work: every kind of pending work (asynchronous invocations; queue messages, topic deliveries and
schedule firings next) waits in one table, and is claimed by one owner at a time under a lease.

An item exists from the moment it is added until its owner completes it, so a crash loses nothing: an
owner that dies stops renewing and its items are claimed again when their lease runs out, and a node that
restarts hands back at once what it held. `due_at` is the one clock: an item may be claimed once it is
due, whether it waits for its first run, for a retry, or for a dead owner's lease to end. Each claim counts
as an attempt. Claiming is one statement: on PostgreSQL concurrent claimers skip the rows another is taking
(`FOR UPDATE SKIP LOCKED`) rather than wait for them or take them twice; on SQLite the statement is its own
short write transaction, and SQLite has one writer at a time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import LargeBinary, bindparam, case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from faas.store.functions import as_utc
from faas.store.tables import work_items


@dataclasses.dataclass(frozen=True)
class WorkItem:
    id: int
    kind: str
    key: str
    group: str | None
    payload: bytes
    created_at: dt.datetime
    due_at: dt.datetime  # while claimed: when the lease runs out
    attempts: int  # claims so far, this one included
    owner: str | None
    first_claimed_at: dt.datetime | None = None  # the first claim's time (SQS's ApproximateFirstReceiveTimestamp)


@dataclasses.dataclass(frozen=True)
class WorkDepth:
    """How much of a kind of work there is, as SQS counts a queue's messages."""

    due: int  # may be claimed now (ApproximateNumberOfMessages), dead owners' included
    delayed: int  # waiting for their due time (ApproximateNumberOfMessagesDelayed)
    leased: int  # held under a lease that has not run out (ApproximateNumberOfMessagesNotVisible)
    oldest_due_s: float  # how long the longest-due item has waited past its due time; 0 when none is due


@dataclasses.dataclass(frozen=True)
class WorkHead:
    """A work item without its payload, for a listing."""

    key: str
    created_at: dt.datetime
    due_at: dt.datetime  # while claimed: when the lease runs out
    attempts: int
    owner: str | None
    payload_bytes: int


def _item(row) -> WorkItem:  # type: ignore[no-untyped-def]
    return WorkItem(row.id, row.kind, row.key, row.group_key, bytes(row.payload), as_utc(row.created_at),
                    as_utc(row.due_at), row.attempts, row.owner,
                    as_utc(row.first_claimed_at) if row.first_claimed_at is not None else None)


def _later(now: dt.datetime, seconds: float) -> dt.datetime:
    return now + dt.timedelta(seconds=seconds)


class WorkStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, kind: str, key: str, payload: bytes, *, due_at: dt.datetime,
                  created_at: dt.datetime | None = None, group: str | None = None) -> bool:
        """Queue work, durably once this returns. The same key again within a kind, while the first is still
        pending, adds nothing (a retried send): returns whether this call added it. Items of a `group` are
        claimed one at a time, in the order they were added."""
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        new = dialect.insert(work_items).values(
            kind=kind, key=key, group_key=group, payload=payload, created_at=created_at or due_at, due_at=due_at,
            attempts=0, owner=None).on_conflict_do_nothing(index_elements=[work_items.c.kind, work_items.c.key])
        async with self._engine.begin() as conn:
            result = await conn.execute(new)
        return result.rowcount == 1

    async def add_many(self, kind: str, items: list[tuple[str, bytes, dt.datetime, dt.datetime]]) -> None:
        """Queue several items, (key, payload, due_at, created_at) each, in one transaction: all are durable
        once this returns, or none is. A key already pending is skipped, as `add` skips it."""
        if not items:
            return
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        new = dialect.insert(work_items).on_conflict_do_nothing(index_elements=[work_items.c.kind, work_items.c.key])
        rows = [{"kind": kind, "key": key, "group_key": None, "payload": payload, "created_at": created_at,
                 "due_at": due_at, "attempts": 0, "owner": None} for key, payload, due_at, created_at in items]
        async with self._engine.begin() as conn:
            await conn.execute(new, rows)

    async def complete_many(self, held: list[tuple[int, str]]) -> None:
        """Complete several items, (id, owner) each, in one transaction; those no longer held are left."""
        if not held:
            return
        done = delete(work_items).where(work_items.c.id == bindparam("item_id"),
                                        work_items.c.owner == bindparam("item_owner"))
        async with self._engine.begin() as conn:
            await conn.execute(done, [{"item_id": item_id, "item_owner": owner} for item_id, owner in held])

    async def claim(self, kind: str, owner: str, *, lease_s: float, limit: int, now: dt.datetime,
                    created_after: dt.datetime | None = None, runs: bool = False) -> list[WorkItem]:
        """Take up to `limit` due items of a kind for `owner` until `now + lease_s`, earliest due first: new
        and retried ones whose time came, and those whose owner's lease ran out. Each claim is an attempt.
        Of a group only its first pending item may be claimed: the next waits until that one is complete.
        With `runs`, a group whose first item is taken also gives the due items that follow it, in order,
        while `limit` allows (SQS's FIFO receive): in the same transaction, so no other claimer can take
        them, since for any other its first item is neither due nor unlocked. Items created at or before
        `created_after` are left for `expire` (a queue's retention period)."""
        if limit <= 0:
            return []
        earlier = work_items.alias("earlier")
        first_of_group = work_items.c.group_key.is_(None) | ~select(earlier.c.id).where(
            earlier.c.kind == kind, earlier.c.group_key == work_items.c.group_key, earlier.c.id < work_items.c.id,
        ).exists()
        conditions = [work_items.c.kind == kind, work_items.c.due_at <= now, first_of_group]
        if created_after is not None:
            conditions.append(work_items.c.created_at > created_after)
        due = (select(work_items.c.id).where(*conditions)
               .order_by(work_items.c.due_at).limit(limit)  # the index's own order: no sort
               .with_for_update(skip_locked=True))  # SQLite has no row locks; its compiler leaves this out
        claim = (update(work_items).where(work_items.c.id.in_(due.scalar_subquery()))
                 .values(owner=owner, due_at=_later(now, lease_s), attempts=work_items.c.attempts + 1,
                         first_claimed_at=func.coalesce(work_items.c.first_claimed_at, now))
                 .returning(*work_items.c))
        async with self._engine.begin() as conn:
            rows = (await conn.execute(claim)).all()
            if runs:
                rows += await self._claim_runs(conn, kind, rows, limit=limit, now=now, created_after=created_after)
        return sorted((_item(row) for row in rows), key=lambda item: item.id)

    @staticmethod
    async def _claim_runs(conn, kind: str, heads, *, limit: int, now: dt.datetime,  # type: ignore[no-untyped-def]
                          created_after: dt.datetime | None) -> list:
        """The due items that follow each claimed group's first, in order, up to `limit` in all."""
        room = limit - len(heads)
        taken: list = []
        for head in sorted(heads, key=lambda row: row.id):
            if room <= 0:
                break
            if head.group_key is None:
                continue
            following = (await conn.execute(
                select(work_items.c.id, work_items.c.due_at, work_items.c.created_at)
                .where(work_items.c.kind == kind, work_items.c.group_key == head.group_key,
                       work_items.c.id > head.id).order_by(work_items.c.id).limit(room))).all()
            run = []
            for item in following:  # in order, up to the first that is not due: the rest wait behind it
                expired = created_after is not None and as_utc(item.created_at) <= created_after
                if as_utc(item.due_at) > now or expired:
                    break
                run.append(item.id)
            if not run:
                continue
            taken += (await conn.execute(
                update(work_items).where(work_items.c.id.in_(run), work_items.c.due_at <= now)
                .values(owner=head.owner, due_at=head.due_at, attempts=work_items.c.attempts + 1,
                        first_claimed_at=func.coalesce(work_items.c.first_claimed_at, now))
                .returning(*work_items.c))).all()
            room -= len(run)
        return taken

    async def heads(self, kind: str, *, payload_prefix: bytes, limit: int) -> list[WorkHead]:
        """The first `limit` items of a kind whose payload starts with `payload_prefix`, in the order they were
        added, without their payloads: whose work an item is may be written at its payload's start (an
        asynchronous invocation's names its function)."""
        starts = func.substr(work_items.c.payload, 1, len(payload_prefix), type_=LargeBinary)
        query = (select(work_items.c.key, work_items.c.created_at, work_items.c.due_at, work_items.c.attempts,
                        work_items.c.owner, func.length(work_items.c.payload).label("payload_bytes"))
                 .where(work_items.c.kind == kind, starts == payload_prefix).order_by(work_items.c.id).limit(limit))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [WorkHead(row.key, as_utc(row.created_at), as_utc(row.due_at), row.attempts, row.owner,
                         row.payload_bytes) for row in rows]

    async def renew(self, item_id: int, owner: str, *, lease_s: float, now: dt.datetime) -> bool:
        """Extend the lease to `now + lease_s`; false when `owner` no longer holds the item (it was claimed
        by another after the lease ran out, or completed)."""
        return await self._update_held(item_id, owner, {"due_at": _later(now, lease_s)})

    async def release(self, item_id: int, owner: str, *, delay_s: float, now: dt.datetime,
                      count_attempt: bool = True) -> bool:
        """Hand the item back, to be claimed again after `delay_s`. `count_attempt=False` takes back the
        attempt its claim counted, for a run that never started (a throttle)."""
        values: dict = {"owner": None, "due_at": _later(now, delay_s)}
        if not count_attempt:
            values["attempts"] = work_items.c.attempts - 1
        return await self._update_held(item_id, owner, values)

    async def complete(self, item_id: int, owner: str) -> bool:
        """The work is over: the item goes. False when `owner` no longer held it."""
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(work_items).where(work_items.c.id == item_id,
                                                                 work_items.c.owner == owner))
        return result.rowcount == 1

    async def expire(self, kind: str, *, created_before: dt.datetime) -> int:
        """Drop the items of a kind created at or before `created_before`, held or not (a queue's messages past
        their retention period). Returns how many went."""
        return await self._delete(work_items.c.kind == kind, work_items.c.created_at <= created_before)

    async def clear(self, kind: str) -> int:
        """Drop every item of a kind (a purged or deleted queue). Returns how many went."""
        return await self._delete(work_items.c.kind == kind)

    async def _delete(self, *conditions) -> int:  # type: ignore[no-untyped-def]
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(work_items).where(*conditions))
        return result.rowcount

    async def reclaim_owner(self, owner: str, *, now: dt.datetime) -> int:
        """At an owner's start: what it held when it stopped is due again at once, rather than when the
        leases run out. Returns how many items that was."""
        async with self._engine.begin() as conn:
            result = await conn.execute(update(work_items).where(work_items.c.owner == owner)
                                        .values(owner=None, due_at=now))
        return result.rowcount

    async def depth(self, kind: str, *, now: dt.datetime) -> WorkDepth:
        is_due = work_items.c.due_at <= now
        leased = work_items.c.owner.is_not(None) & ~is_due

        def count(condition):  # type: ignore[no-untyped-def]
            return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

        query = select(count(is_due), count(~is_due & work_items.c.owner.is_(None)), count(leased),
                       func.min(case((is_due, work_items.c.due_at), else_=None))).where(work_items.c.kind == kind)
        async with self._engine.connect() as conn:
            due, delayed, held, oldest = (await conn.execute(query)).one()
        oldest_due_s = (now - as_utc(oldest)).total_seconds() if oldest is not None else 0.0
        return WorkDepth(int(due), int(delayed), int(held), oldest_due_s)

    async def next_due(self, kind: str) -> dt.datetime | None:
        """When the earliest item of a kind falls due (a held item's lease end included); None when there is none."""
        async with self._engine.connect() as conn:
            due = (await conn.execute(select(func.min(work_items.c.due_at)).where(work_items.c.kind == kind))).scalar()
        return as_utc(due) if due is not None else None

    async def oldest_s(self, kind: str, *, now: dt.datetime) -> float:
        """How long ago the oldest item of a kind was first added (retries keep their first time); 0 when none."""
        async with self._engine.connect() as conn:
            oldest = (await conn.execute(select(func.min(work_items.c.created_at))
                                         .where(work_items.c.kind == kind))).scalar()
        return max(0.0, (now - as_utc(oldest)).total_seconds()) if oldest is not None else 0.0

    async def _update_held(self, item_id: int, owner: str, values: dict) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(update(work_items).where(work_items.c.id == item_id,
                                                                 work_items.c.owner == owner).values(values))
        return result.rowcount == 1
