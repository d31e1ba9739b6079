"""Event-invoke configs in SQL: each function's retries, maximum event age and destinations for
asynchronous invocations (the invocations themselves wait in faas/store/work.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from faas.store.functions import as_utc
from faas.store.tables import event_invoke_configs


@dataclasses.dataclass(frozen=True)
class EventInvokeConfig:
    function_name: str
    maximum_retry_attempts: int
    maximum_event_age_s: int
    on_success: str | None
    on_failure: str | None
    last_modified: dt.datetime


class EventConfigStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def put_config(self, config: EventInvokeConfig) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(event_invoke_configs).where(
                event_invoke_configs.c.function_name == config.function_name))
            await conn.execute(insert(event_invoke_configs).values(**dataclasses.asdict(config)))

    async def config(self, function_name: str) -> EventInvokeConfig | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(event_invoke_configs).where(
                event_invoke_configs.c.function_name == function_name))).first()
        if row is None:
            return None
        return EventInvokeConfig(row.function_name, row.maximum_retry_attempts, row.maximum_event_age_s,
                                 row.on_success, row.on_failure, as_utc(row.last_modified))

    async def delete_config(self, function_name: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(event_invoke_configs).where(
                event_invoke_configs.c.function_name == function_name))
        return result.rowcount == 1
