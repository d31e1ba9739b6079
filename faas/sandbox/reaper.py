"""Keep-alive: idle environments are stopped once they have waited `keep_alive_s` for work (scale to
zero), and so are idle ones whose credentials reached half their life."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from faas.sandbox.environment import Environment
from faas.sandbox.scheduler import Scheduler
from faas.sandbox.tasks import Tasks

log = logging.getLogger(__name__)


class Reaper:
    def __init__(self, scheduler: Scheduler, keep_alive_s: float,
                 discard: Callable[[Environment], Awaitable[None]]) -> None:
        self._scheduler = scheduler
        self.keep_alive_s = keep_alive_s
        self._discard = discard
        self._tasks = Tasks()

    @property
    def interval_s(self) -> float:
        return min(10.0, max(self.keep_alive_s / 4, 0.25))

    def start(self) -> None:
        self._tasks.spawn(self._run())

    async def close(self) -> None:
        await self._tasks.close()

    async def reap(self) -> int:
        """Stop what has expired now; returns how many."""
        expired = self._scheduler.expired(self.keep_alive_s)
        for env in expired:
            log.debug("stopping idle environment %s of %s", env.container_id[:12], env.key and env.key[0])
            await self._discard(env)
        return len(expired)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.reap()
