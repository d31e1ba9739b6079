"""Reading a function's invocation records and their logs."""

from __future__ import annotations

import datetime as dt

from faas.model import InvocationRecord
from faas.store.invocations import InvocationStore


class InvocationService:
    def __init__(self, store: InvocationStore) -> None:
        self._store = store

    async def recent(self, function_name: str, limit: int) -> list[InvocationRecord]:
        """The newest `limit` records of a function, oldest first."""
        return await self._store.recent(function_name, limit)

    async def since(self, function_name: str, since: dt.datetime, limit: int) -> list[InvocationRecord]:
        """A function's records started after `since`, oldest first (the newest `limit` of them): what the
        console's charts are drawn from."""
        return await self._store.since(function_name, since, limit)
