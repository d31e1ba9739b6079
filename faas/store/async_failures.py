"""Asynchronous invocations that failed for good, in SQL: one row each once its work item is gone, read back
newest first per function, deleted by the retention sweeper and with their function."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from faas.store.functions import as_utc
from faas.store.tables import async_failures


@dataclasses.dataclass(frozen=True)
class AsyncFailure:
    request_id: str
    function_name: str
    enqueued_at: dt.datetime
    failed_at: dt.datetime
    attempts: int
    reason: str  # RetriesExhausted or EventAgeExceeded, as the on-failure destination record's condition
    error_type: str | None  # the last attempt's errorType, when known
    payload_bytes: int
    sent_to: tuple[str, ...]  # the on-failure destination and dead-letter target it was delivered to; () dropped


class AsyncFailureStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, failure: AsyncFailure) -> bool:
        """Keep a failure; False when its function is gone (its failures went with it). The same request again
        (an event whose node died after recording it, run once more) keeps the first."""
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        row = {**vars(failure), "sent_to": json.dumps(list(failure.sent_to))}
        try:
            async with self._engine.begin() as conn:
                await conn.execute(dialect.insert(async_failures).values(row)
                                   .on_conflict_do_nothing(index_elements=[async_failures.c.request_id]))
        except IntegrityError:  # the function's row went between the attempt and now
            return False
        return True

    async def recent(self, function_name: str, limit: int) -> list[AsyncFailure]:
        """A function's newest `limit` failures, newest first."""
        query = (select(async_failures).where(async_failures.c.function_name == function_name)
                 .order_by(async_failures.c.failed_at.desc()).limit(limit))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [AsyncFailure(**{**row._mapping, "enqueued_at": as_utc(row.enqueued_at),
                                "failed_at": as_utc(row.failed_at), "sent_to": tuple(json.loads(row.sent_to))})
                for row in rows]

    async def prune_before(self, cutoff: dt.datetime, limit: int) -> int:
        """Delete at most `limit` failures older than `cutoff`, oldest first, in one short transaction."""
        oldest = (select(async_failures.c.request_id).where(async_failures.c.failed_at < cutoff)
                  .order_by(async_failures.c.failed_at).limit(limit))
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(async_failures).where(async_failures.c.request_id.in_(oldest)))
        return result.rowcount
