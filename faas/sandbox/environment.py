"""One execution environment (a container) and the invocation it is running, as seen by the platform."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

from faas.model import Function


@dataclasses.dataclass
class Outcome:
    """How an invocation ended, as the Runtime API or the platform reported it."""

    body: bytes
    error_type: str | None = None  # None: the function answered; else the errorType of a function error
    timed_out: bool = False
    environment_lost: bool = False  # init failure, exit, timeout: the environment cannot be reused


class Invocation:
    """An event on its way through an environment; the Runtime API fills it in."""

    def __init__(self, request_id: str, payload: bytes, function_arn: str, timeout_s: int,
                 client_context: str | None = None) -> None:
        self.request_id = request_id
        self.payload = payload
        self.function_arn = function_arn
        self.timeout_s = timeout_s
        self.client_context = client_context
        self.deadline_ms = 0
        self.delivered_at = 0.0  # monotonic, when the runtime took the event
        self.log = ""
        loop = asyncio.get_running_loop()
        self.delivered: asyncio.Future[None] = loop.create_future()
        self.outcome: asyncio.Future[Outcome] = loop.create_future()

    def deliver(self) -> None:
        self.delivered_at = time.monotonic()
        self.deadline_ms = int(time.time() * 1000) + self.timeout_s * 1000
        if not self.delivered.done():
            self.delivered.set_result(None)

    def finish(self, outcome: Outcome) -> bool:
        """Record the outcome; the first one wins (a late /response after a timeout is ignored)."""
        if self.outcome.done():
            return False
        self.outcome.set_result(outcome)
        return True


class Environment:
    """A running container bound to one function revision; serves one invocation at a time."""

    def __init__(self, fn: Function, container_id: str, ip: str, memory_peak_file: Path | None,
                 started_at: float) -> None:
        self.function = fn
        self.container_id = container_id
        self.ip = ip
        self.memory_peak_file = memory_peak_file
        self.started_at = started_at  # monotonic, before the container was created
        self.init_duration_ms: float | None = None  # set when the runtime first asks for work
        self.init_log = ""
        self.dead = False
        self.oom_killed = False
        self.idle_since = time.monotonic()
        self.current: Invocation | None = None
        self._waiter: asyncio.Future[Invocation] | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.function.name, self.function.revision_id)

    def assign(self, invocation: Invocation) -> None:
        self.current = invocation
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(invocation)
            self._waiter = None

    async def next_invocation(self) -> Invocation:
        """What the runtime's long-polling /next waits on."""
        if self.init_duration_ms is None:
            self.init_duration_ms = (time.monotonic() - self.started_at) * 1000
        if self.current is not None and not self.current.delivered.done():
            return self.current
        self._waiter = asyncio.get_running_loop().create_future()
        return await self._waiter

    def max_memory_used_mb(self) -> int:
        if self.memory_peak_file is None:
            return 0
        try:
            return int(self.memory_peak_file.read_text()) // (1024 * 1024)
        except (OSError, ValueError):
            return 0

    def mark_dead(self) -> None:
        self.dead = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.cancel()
