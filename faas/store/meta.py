"""The installation's small facts in SQL, by name (the master key canary)."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from faas.store.tables import meta


class MetaStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, name: str) -> bytes | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(meta.c.value).where(meta.c.name == name))).first()
        return bytes(row.value) if row else None

    async def put(self, name: str, value: bytes) -> None:
        async with self._engine.begin() as conn:
            result = await conn.execute(update(meta).where(meta.c.name == name).values(value=value))
            if result.rowcount == 0:
                await conn.execute(insert(meta).values(name=name, value=value))
