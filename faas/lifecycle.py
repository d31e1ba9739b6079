"""One lifecycle for every long-running part of a node (listeners, sources, the pool, the recorders, the
pruner): the app factory lists the parts once, in start order, and the server starts them in that order
and drains and stops them in reverse."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

log = logging.getLogger(__name__)


class Part(Protocol):
    async def start(self) -> None:
        """Begin work: what it needs from the parts before it in the list is running."""

    async def drain(self) -> None:
        """Take no new work; what is under way may finish (the server's shutdown grace bounds it)."""

    async def stop(self) -> None:
        """Finish and release everything. Safe without start(): construction may already hold something
        (a bound socket), and a failed start stops every part."""


class Hooks:
    """A part made of callables (plain or async), for things that keep their own names for these steps:
    the pool's start() and close(), the store's dispose()."""

    def __init__(self, name: str, *, start: Callable[[], object] | None = None,
                 drain: Callable[[], object] | None = None, stop: Callable[[], object] | None = None) -> None:
        self.name = name
        self._start, self._drain, self._stop = start, drain, stop

    def __repr__(self) -> str:
        return f"<{self.name}>"

    async def start(self) -> None:
        await _call(self._start)

    async def drain(self) -> None:
        await _call(self._drain)

    async def stop(self) -> None:
        await _call(self._stop)


async def _call(step: Callable[[], object] | None) -> None:
    if step is not None:
        result = step()
        if inspect.isawaitable(result):
            await result


async def cancel(*tasks: asyncio.Task | None) -> None:
    """Cancel a part's background tasks and wait until each has ended (None: one that never started). A task
    that had already failed is logged, not raised: a stopping part must go on stopping."""
    for task in tasks:
        if task is not None:
            task.cancel()
    for task in tasks:
        if task is None:
            continue
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("%r had failed", task)


class Lifecycle:
    def __init__(self, parts: Sequence[Part]) -> None:
        self.parts = tuple(parts)

    async def start(self) -> None:
        """Start each part in order. If one fails, every part is stopped (in reverse) and the error raised."""
        for part in self.parts:
            try:
                await part.start()
            except BaseException:
                await self.stop()
                raise

    async def drain(self) -> None:
        for part in reversed(self.parts):
            await part.drain()

    async def stop(self) -> None:
        """Stop each part in reverse order. One that fails is logged and the rest still stop: a failing pool
        must not keep the recorders from writing what they hold."""
        for part in reversed(self.parts):
            try:
                await part.stop()
            except Exception:
                log.exception("stopping %r failed", part)


