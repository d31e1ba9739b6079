"""Reading the audit log: what the recorder has buffered is written first, so a change just made shows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from faas.store.audit import AuditEntry, AuditStore


class AuditService:
    def __init__(self, flush: Callable[[], Awaitable[None]], store: AuditStore) -> None:
        self._flush = flush  # the audit recorder's: entries are buffered on their way to the store
        self._store = store

    async def entries(self, *, principal: str | None, action: str | None, since: dt.datetime | None,
                      limit: int) -> list[AuditEntry]:
        """Newest first."""
        await self._flush()
        return await self._store.query(principal=principal, action=action, since=since, limit=limit)
