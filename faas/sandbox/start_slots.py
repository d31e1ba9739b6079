"""How many containers start at once. The engine's start throughput stops growing at about one start per
core, while every start in flight slows the others down (on two cores: one start alone 0.33 s; two at
once 0.5 s each; twelve at once 2.2 s each, for the same throughput), so a burst is better served by
starts in a queue than by all of them at once: the first environments are up in a fraction of the
time, and none takes longer than the queue takes to reach it. Requests' own starts go before the
prewarmed pool's refills."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque
from collections.abc import AsyncIterator


class StartNotNeeded(Exception):
    """A start that reached its slot after the request it was for had been served (by an environment freed
    meanwhile): it is not made."""


def default_parallel_starts() -> int:
    return max(1, os.cpu_count() or 1)


class StartSlots:
    def __init__(self, size: int) -> None:
        self.size = size
        self._free = size
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._later: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return sum(1 for f in (*self._urgent, *self._later) if not f.done())

    @contextlib.asynccontextmanager
    async def slot(self, *, urgent: bool) -> AsyncIterator[None]:
        """Hold one of the slots: `urgent` for a start a request waits for, else behind those."""
        if self._free > 0:  # free slots mean nobody waits: every release hands its slot to a waiter first
            self._free -= 1
        else:
            turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            (self._urgent if urgent else self._later).append(turn)
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    self._release()  # handed the slot just as it was cancelled: pass it on
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        for queue in (self._urgent, self._later):
            while queue:
                turn = queue.popleft()
                if not turn.done():
                    turn.set_result(None)
                    return
        self._free += 1
