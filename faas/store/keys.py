"""Access keys in SQL; their secrets arrive already sealed by the master key."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from faas.model import AccessKey
from faas.store.functions import as_utc
from faas.store.tables import access_keys


class KeyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, key: AccessKey) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(access_keys).values(
                    key_id=key.key_id,
                    principal=key.principal,
                    secret=key.secret,
                    enabled=key.enabled,
                    created_at=key.created_at,
                )
            )

    async def for_principal(self, principal: str) -> list[AccessKey]:
        query = select(access_keys).where(access_keys.c.principal == principal).order_by(access_keys.c.created_at)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            AccessKey(
                key_id=row.key_id,
                principal=row.principal,
                secret=bytes(row.secret),
                enabled=row.enabled,
                created_at=as_utc(row.created_at),
            )
            for row in rows
        ]
