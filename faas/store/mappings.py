"""Event source mappings in SQL: each mapping's settings, the state it is in and the last result of its
poller. Every change bumps `revision`, so a poller settling a transition (Creating -> Enabled, ...) changes
the row only if nobody changed it since the poller read it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from faas.store.functions import as_utc
from faas.store.tables import event_source_mappings as table


@dataclasses.dataclass(frozen=True)
class Mapping:
    uuid: str
    function_name: str
    source_arn: str
    batch_size: int
    window_s: int
    enabled: bool
    response_types: tuple[str, ...]
    filters: tuple[str, ...]  # FilterCriteria's patterns, as given (JSON text each)
    max_concurrency: int | None
    state: str
    state_reason: str
    last_result: str
    revision: int
    last_modified: dt.datetime

    @property
    def reports_failures(self) -> bool:
        return "ReportBatchItemFailures" in self.response_types


def _mapping(row) -> Mapping:  # type: ignore[no-untyped-def]
    return Mapping(row.uuid, row.function_name, row.source_arn, row.batch_size, row.window_s, bool(row.enabled),
                   tuple(json.loads(row.response_types)), tuple(json.loads(row.filters)), row.max_concurrency,
                   row.state, row.state_reason, row.last_result, row.revision, as_utc(row.last_modified))


def _row(mapping: Mapping) -> dict:
    values = dataclasses.asdict(mapping)
    values["response_types"] = json.dumps(list(mapping.response_types))
    values["filters"] = json.dumps(list(mapping.filters))
    return values


class MappingStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, mapping: Mapping) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(insert(table).values(**_row(mapping)))

    async def get(self, uuid: str) -> Mapping | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(table).where(table.c.uuid == uuid))).first()
        return _mapping(row) if row is not None else None

    async def list(self, *, function_name: str | None = None, source_arn: str | None = None, after: str = "",
                   limit: int | None = None) -> list[Mapping]:
        """Mappings in UUID order from the first after `after`, of one function and/or one source if named."""
        query = select(table).where(table.c.uuid > after).order_by(table.c.uuid)
        if function_name is not None:
            query = query.where(table.c.function_name == function_name)
        if source_arn is not None:
            query = query.where(table.c.source_arn == source_arn)
        if limit is not None:
            query = query.limit(limit)
        async with self._engine.connect() as conn:
            return [_mapping(row) for row in (await conn.execute(query)).all()]

    async def replace(self, mapping: Mapping) -> Mapping | None:
        """Store a changed mapping (its revision bumped) if its row is still at `mapping.revision`; None when it
        changed or went meanwhile."""
        changed = dataclasses.replace(mapping, revision=mapping.revision + 1)
        values = _row(changed)
        del values["uuid"]
        async with self._engine.begin() as conn:
            result = await conn.execute(update(table).where(table.c.uuid == mapping.uuid,
                                                            table.c.revision == mapping.revision).values(**values))
        return changed if result.rowcount == 1 else None

    async def set_result(self, uuid: str, last_result: str) -> None:
        """The poller's LastProcessingResult: not a change of the user's settings, so no new revision."""
        async with self._engine.begin() as conn:
            await conn.execute(update(table).where(table.c.uuid == uuid).values(last_result=last_result))

    async def delete(self, uuid: str, *, revision: int) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(table).where(table.c.uuid == uuid, table.c.revision == revision))
        return result.rowcount == 1
