"""Invocation records in SQL: appended in batches, read back for logs and usage."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from faas.model import InvocationRecord
from faas.store.functions import as_utc
from faas.store.logs import RECORD_COLUMNS, ensure_groups
from faas.store.tables import invocations

_KEY = tuple_(invocations.c.request_id, invocations.c.started_at)


class InvocationStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._log_groups: set[str] = set()  # functions whose log group this store has seen made

    async def add_many(self, records: list[InvocationRecord]) -> None:
        if not records or __import__('os').environ.get('EXP_NOREC'):
            return
        new_groups = {r.function_name for r in records} - self._log_groups
        async with self._engine.begin() as conn:
            if new_groups:  # a function's first records make its log group, as on AWS
                await ensure_groups(conn, new_groups, records[0].started_at)
            # vars(), not dataclasses.asdict(): a shallow copy is enough and asdict costs ~10x more.
            await conn.execute(insert(invocations), [{**vars(r), "ended_at": r.ended_at} for r in records])
        self._log_groups |= new_groups

    async def recent(self, function_name: str, limit: int) -> list[InvocationRecord]:
        """The newest `limit` records of a function, oldest first."""
        query = (
            select(*RECORD_COLUMNS)
            .where(invocations.c.function_name == function_name)
            .order_by(invocations.c.started_at.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        records = [InvocationRecord(**{**row._mapping, "started_at": as_utc(row.started_at)}) for row in rows]
        return list(reversed(records))

    async def since(self, function_name: str, since: dt.datetime, limit: int) -> list[InvocationRecord]:
        """A function's records started after `since`, oldest first: at most the newest `limit`."""
        query = (
            select(*RECORD_COLUMNS)
            .where(invocations.c.function_name == function_name, invocations.c.started_at > since)
            .order_by(invocations.c.started_at.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [InvocationRecord(**{**row._mapping, "started_at": as_utc(row.started_at)}) for row in reversed(rows)]

    async def last_errors(self, function_name: str, request_ids: list[str]) -> dict[str, str]:
        """The errorType of each request's latest attempt, for those whose latest attempt failed (an
        asynchronous invocation's attempts share its request id)."""
        if not request_ids:
            return {}
        query = (select(invocations.c.request_id, invocations.c.error_type)
                 .where(invocations.c.function_name == function_name, invocations.c.request_id.in_(request_ids))
                 .order_by(invocations.c.started_at))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        latest = {row.request_id: row.error_type for row in rows}  # in start order: the last one stays
        return {request_id: error for request_id, error in latest.items() if error}

    async def prune_before(self, cutoff: dt.datetime, limit: int) -> int:
        """Delete at most `limit` records (with their logs) started before `cutoff`, oldest first, in one
        short transaction; the number deleted. A bounded batch: SQLite has one writer, the invoke path's
        recorder among them."""
        oldest = (select(invocations.c.request_id, invocations.c.started_at)
                  .where(invocations.c.started_at < cutoff).order_by(invocations.c.started_at).limit(limit)
                  .with_for_update(skip_locked=True))  # PostgreSQL: nodes pruning at once take turns, not locks
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(invocations).where(_KEY.in_(oldest)))
        return result.rowcount
