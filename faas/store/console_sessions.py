"""Web console sessions in SQL: looked up by the SHA-256 of the cookie, never by the cookie itself."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from faas.store.functions import as_utc
from faas.store.tables import console_sessions


@dataclasses.dataclass(frozen=True)
class ConsoleSession:
    session_hash: str
    principal: str
    key_id: str  # the access key signed in with: disabling or deleting it ends the session
    expires_at: dt.datetime
    created_at: dt.datetime


class ConsoleSessionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, session: ConsoleSession) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(insert(console_sessions).values(**vars(session)))

    async def get(self, session_hash: str) -> ConsoleSession | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(console_sessions)
                                      .where(console_sessions.c.session_hash == session_hash))).first()
        if row is None:
            return None
        return ConsoleSession(**{**row._mapping, "expires_at": as_utc(row.expires_at),
                                 "created_at": as_utc(row.created_at)})

    async def remove(self, session_hash: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(console_sessions).where(console_sessions.c.session_hash == session_hash))

    async def prune_before(self, cutoff: dt.datetime, limit: int) -> int:
        """Delete at most `limit` sessions that expired before `cutoff`; the number deleted."""
        oldest = (select(console_sessions.c.session_hash).where(console_sessions.c.expires_at < cutoff)
                  .order_by(console_sessions.c.expires_at).limit(limit))
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(console_sessions).where(console_sessions.c.session_hash.in_(oldest)))
        return result.rowcount
