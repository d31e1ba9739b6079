"""The rule schedules source: every TICK_S, fire the event bus's schedule rules whose due time has come
(EventBusService.fire_due: each due time once, decided in the store, whatever the number of nodes)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from faas.lifecycle import cancel

log = logging.getLogger(__name__)

TICK_S = 1.0  # EventBridge's schedules have a minute's precision; a second is well inside it


class RuleSchedules:
    def __init__(self, fire_due: Callable[[], Awaitable[int]]) -> None:
        self._fire_due = fire_due
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def drain(self) -> None:
        await cancel(self._task)
        self._task = None

    async def stop(self) -> None:
        await self.drain()

    async def _loop(self) -> None:
        while True:
            try:
                await self._fire_due()
            except Exception:
                log.exception("firing schedule rules failed")
            await asyncio.sleep(TICK_S)
