"""The prewarmed pool: generic environments kept running per runtime and memory size, each handed to the
first zip function of its runtime (or of an alias of it, provided.al2 for provided.al2023) that needs a
new environment, and replaced in the background as they are used or die.

The pool adapts to demand: each shape keeps as many environments as were asked of it at once (within
BURST_S) lately (within DEMAND_WINDOW_S), so the next burst of cold starts finds them running; the
runtime's usual size (PREWARM_MEMORY_MB) never keeps fewer than the operator's floor (and a floor of 0
turns prewarming off). Everything
prewarmed fits in a memory budget (counted at the environments' limits, what they may use once bound),
refills start a few at a time, only while no request waits for a start, and behind requests' starts
(start_slots.py), so they never crowd out the starts that requests wait for, and a shape
whose demand has passed shrinks back."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable

from faas.model import Function
from faas.sandbox import images
from faas.sandbox.environment import Environment
from faas.sandbox.launcher import Launcher
from faas.sandbox.spec import PREWARM_MEMORY_MB, PREWARM_TMP_MB
from faas.sandbox.tasks import Tasks

log = logging.getLogger(__name__)

PREWARM_RETRY_S = 5.0
BURST_S = 10.0  # asks this close together count as one burst
DEMAND_WINDOW_S = 600.0  # how long a burst is remembered (the default keep-alive)
TRIM_INTERVAL_S = 30.0

Shape = tuple[str, int]  # (the runtime whose image it runs, memory in MB)


class Demand:
    """How many environments of one shape were asked for at once lately: the largest number of asks within
    BURST_S of each other over the last DEMAND_WINDOW_S. Kept as a sliding-window maximum, so an ask and a
    look cost the same however many cold starts the window saw."""

    def __init__(self) -> None:
        self._burst: deque[float] = deque()  # the asks of the last BURST_S
        self._peaks: deque[tuple[float, int]] = deque()  # (when, burst size then), sizes falling

    def ask(self, now: float) -> None:
        self._burst.append(now)
        while self._burst[0] < now - BURST_S:
            self._burst.popleft()
        size = len(self._burst)
        while self._peaks and self._peaks[-1][1] <= size:
            self._peaks.pop()  # a smaller burst before a larger one can never be the window's largest
        self._peaks.append((now, size))

    def peak(self, now: float) -> int:
        while self._peaks and self._peaks[0][0] < now - DEMAND_WINDOW_S:
            self._peaks.popleft()
        return self._peaks[0][1] if self._peaks else 0


class Prewarm:
    """At least `per_runtime` generic environments of each runtime `launcher` has an image for, more while
    demand asks for them, all within `budget_mb`; `room()` is how many more environments may be prewarmed
    now (none while requests wait for starts of their own); `discard` stops an environment (and makes
    everyone forget it)."""

    def __init__(self, launcher: Launcher, per_runtime: int, discard: Callable[[Environment], Awaitable[None]],
                 *, budget_mb: int = 4096, room: Callable[[], int] = lambda: 1 << 30, parallel_refills: int = 1,
                 retry_s: float = PREWARM_RETRY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._launcher = launcher
        self._per_runtime = per_runtime
        self._discard = discard
        self._budget_mb = budget_mb
        self._room = room
        self._parallel_refills = parallel_refills  # generic starts under way at once
        self.retry_s = retry_s
        self._clock = clock
        self._ready: dict[Shape, list[Environment]] = defaultdict(list)
        self._starting: dict[Shape, int] = defaultdict(int)
        self._demand: dict[Shape, Demand] = defaultdict(Demand)
        self._tasks = Tasks()
        self._closing = False

    def start(self) -> None:
        self.fill()
        self._tasks.spawn(self._trim_now_and_then())

    async def close(self) -> None:
        self._closing = True
        await self._tasks.close()

    def ready(self) -> list[Environment]:
        """The generic environments waiting for a function."""
        return [env for envs in self._ready.values() for env in envs]

    async def take(self, fn: Function) -> Environment | None:
        """A generic environment bound to `fn`, or None when none fits (then `fn` starts cold). One of its
        own size is taken first, else one of the runtime's usual size, resized."""
        if fn.package_type != "Zip" or fn.ephemeral_storage != PREWARM_TMP_MB:
            return None
        runtime = self._pool_of(fn.runtime or "")
        if runtime not in self._launcher.images:
            return None
        shape = (runtime, fn.memory_size)
        self._demand[shape].ask(self._clock())
        ready = self._ready.get(shape) or self._ready.get((runtime, PREWARM_MEMORY_MB))
        env = ready.pop(0) if ready else None  # the oldest: it has long finished its own start
        self.fill()
        if env is None:
            return None
        try:
            await self._launcher.specialize(env, fn)
        except Exception:
            await self._discard(env)
            raise
        return env

    def remove(self, env: Environment) -> None:
        """`env` is being stopped while it waits (to make room)."""
        ready = self._ready.get(self._shape_of(env))
        if ready and env in ready:
            ready.remove(env)

    def forget(self, env: Environment) -> None:
        ready = self._ready.get(self._shape_of(env))
        if ready and env in ready:
            # A generic environment died before it was used: replace it, but slowly, so a runtime that
            # cannot start does not spin.
            ready.remove(env)
            asyncio.get_running_loop().call_later(self.retry_s, self.fill)

    def targets(self) -> dict[Shape, int]:
        """How many environments each shape should keep: the floor for every runtime's usual size, then
        recent demand, the largest first, while the budget lasts."""
        if not self._per_runtime:
            return {}  # the operator turned prewarming off
        now = self._clock()
        floor = {(runtime, PREWARM_MEMORY_MB): self._per_runtime
                 for runtime in dict.fromkeys(map(self._pool_of, self._launcher.images))}
        targets = dict(floor)
        budget = self._budget_mb - sum(count * memory for (_, memory), count in floor.items())
        wanted = sorted(((demand.peak(now), shape) for shape, demand in self._demand.items()), reverse=True)
        for peak, shape in wanted:
            extra = max(0, peak - floor.get(shape, 0))
            affordable = max(0, budget // shape[1])
            targets[shape] = floor.get(shape, 0) + min(extra, affordable)
            budget -= min(extra, affordable) * shape[1]
        return targets

    def fill(self) -> None:
        """Start what the targets ask for, a few at once and never past the node's room."""
        if self._closing:
            return
        free = min(self._parallel_refills, self._room()) - sum(self._starting.values())
        for shape, target in self.targets().items():
            missing = min(free, target - len(self._ready[shape]) - self._starting[shape])
            for _ in range(max(0, missing)):
                self._starting[shape] += 1
                free -= 1
                self._tasks.spawn(self._start(shape))

    def trim(self) -> list[Environment]:
        """Stop what waits beyond its shape's target (the newest go first: they have cost the least); returns them."""
        stopped = []
        for shape, target in self.targets().items():
            ready = self._ready.get(shape, [])
            while len(ready) > target:
                env = ready.pop()
                stopped.append(env)
                self._tasks.spawn(self._discard(env))
        return stopped

    def _pool_of(self, runtime: str) -> str:
        """The pool a runtime's functions take from: an alias (provided.al2) shares its image's
        (provided.al2023), so the same image is not kept warm twice."""
        target = images.image_runtime(runtime)
        return target if target in self._launcher.images else runtime

    @staticmethod
    def _shape_of(env: Environment) -> Shape:
        return env.runtime or "", env.memory_mb

    async def _start(self, shape: Shape) -> None:
        runtime, memory_mb = shape
        try:
            env = await self._launcher.start_generic(runtime, memory_mb)
        except Exception as exc:
            log.warning("could not prewarm a %s environment: %s", runtime, exc)
            return
        finally:
            self._starting[shape] -= 1
        if len(self._ready[shape]) >= self.targets().get(shape, 0):  # trimmed while it started
            self._tasks.spawn(self._discard(env))
            return
        self._ready[shape].append(env)
        self.fill()  # the next ones, now that a start is free

    async def _trim_now_and_then(self) -> None:
        while True:
            await asyncio.sleep(TRIM_INTERVAL_S)
            self.trim()
            self.fill()
