"""The audit log in SQL: every control-plane change, appended in batches, queried by operators."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from faas.store.functions import as_utc
from faas.store.tables import audit_log


@dataclasses.dataclass(frozen=True)
class AuditEntry:
    at: dt.datetime
    principal: str
    action: str
    resource: str
    status: int
    outcome: str  # allowed | denied | failed
    request_id: str
    source_ip: str


class AuditStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add_many(self, entries: list[AuditEntry]) -> None:
        if entries:
            async with self._engine.begin() as conn:
                await conn.execute(insert(audit_log), [vars(e) for e in entries])

    async def query(self, *, principal: str | None = None, action: str | None = None,
                    since: dt.datetime | None = None, limit: int = 100) -> list[AuditEntry]:
        """Newest first."""
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        if principal:
            query = query.where(audit_log.c.principal == principal)
        if action:
            query = query.where(audit_log.c.action == action)
        if since:
            query = query.where(audit_log.c.at >= since)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [AuditEntry(at=as_utc(r.at), principal=r.principal, action=r.action, resource=r.resource,
                           status=r.status, outcome=r.outcome, request_id=r.request_id, source_ip=r.source_ip)
                for r in rows]

    async def prune_before(self, cutoff: dt.datetime, limit: int) -> int:
        """Delete at most `limit` entries older than `cutoff`, oldest first, in one short transaction; the
        number deleted."""
        oldest = (select(audit_log.c.id).where(audit_log.c.at < cutoff).order_by(audit_log.c.id).limit(limit)
                  .with_for_update(skip_locked=True))
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(audit_log).where(audit_log.c.id.in_(oldest)))
        return result.rowcount
