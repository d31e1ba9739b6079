"""Function (resource) policies in SQL: one row per AddPermission statement."""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from faas.errors import ResourceConflict, ResourceNotFound
from faas.store.tables import function_permissions


class PermissionStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, function_name: str, sid: str, statement: str) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(function_permissions).values(
                    function_name=function_name, sid=sid, statement=statement))
        except IntegrityError as exc:
            raise ResourceConflict(f"The statement id ({sid}) provided already exists. Please provide a new "
                                   "statement id, or remove the existing statement.") from exc

    async def remove(self, function_name: str, sid: str) -> None:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(function_permissions).where(
                function_permissions.c.function_name == function_name, function_permissions.c.sid == sid))
            if result.rowcount != 1:
                raise ResourceNotFound(f"Statement {sid} is not found in resource policy.")

    async def statements(self, function_name: str) -> list[str]:
        query = (select(function_permissions.c.statement)
                 .where(function_permissions.c.function_name == function_name)
                 .order_by(function_permissions.c.sid))
        async with self._engine.connect() as conn:
            return [row.statement for row in (await conn.execute(query)).all()]
