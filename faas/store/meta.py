"""The installation's small facts in SQL, by name (the master key canary)."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from faas.store.tables import meta

# A known text sealed under the master key on first start: opening it tells a server (and `faas keys
# rotate`) that the key it holds is the one this store's secrets are sealed with.
CANARY = "master-key-canary"
CANARY_TEXT = b"faas master key canary"


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
