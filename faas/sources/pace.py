"""When a source that works off the store's leased work (faas.store.work) looks at it again.

This node's own additions wake a source at once (an Invoke with InvocationType Event, a publish, a
PutEvents). What else there is to find: items falling due later (retries, a dead owner's leases) and, on
PostgreSQL, other nodes' additions. On a shared store a source looks every POLL_S. On SQLite the store is
this server's alone (faas.serve_lock), so a drained source sleeps until its earliest item falls due, or
IDLE_S at most as a safety net: a node at rest runs no query twice a second per source, and a request on
the invoke path seldom waits behind one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from faas.model import utcnow
from faas.store.work import WorkStore

log = logging.getLogger(__name__)

POLL_S = 0.5  # also the shortest sleep: due items a source cannot take yet (it is full) are found by then
IDLE_S = 10.0


class Pace:
    def __init__(self, work: WorkStore, kind: str, *, shared: bool) -> None:
        self._work = work
        self._kind = kind
        self._shared = shared
        self.wake = asyncio.Event()

    async def wait(self, *, drained: bool) -> None:
        """Until woken, or it is time to look again. `drained`: the last look found less than it could take,
        so what is left falls due later (or belongs to a full source, or a group whose head is held)."""
        timeout = POLL_S
        if drained and not self._shared:
            timeout = await self._until_due()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.wake.wait(), timeout)
        self.wake.clear()

    async def _until_due(self) -> float:
        try:
            due = await self._work.next_due(self._kind)
        except Exception:
            log.exception("reading when the next %s work falls due failed", self._kind)
            return POLL_S
        if due is None:
            return IDLE_S
        return min(IDLE_S, max(POLL_S, (due - utcnow()).total_seconds()))
