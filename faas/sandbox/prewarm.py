"""The prewarmed pool: a few generic environments per runtime kept running, each handed to the first
zip function of its runtime (or of an alias of it, provided.al2 for provided.al2023) that needs a new
environment, and replaced as they are used or die."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable

from faas.model import Function
from faas.sandbox import images
from faas.sandbox.environment import Environment
from faas.sandbox.launcher import Launcher
from faas.sandbox.spec import PREWARM_TMP_MB
from faas.sandbox.tasks import Tasks

log = logging.getLogger(__name__)

PREWARM_RETRY_S = 5.0


class Prewarm:
    """`per_runtime` generic environments of each runtime `launcher` has an image for; `discard` stops an
    environment (and makes everyone forget it)."""

    def __init__(self, launcher: Launcher, per_runtime: int,
                 discard: Callable[[Environment], Awaitable[None]], retry_s: float = PREWARM_RETRY_S) -> None:
        self._launcher = launcher
        self._per_runtime = per_runtime
        self._discard = discard
        self.retry_s = retry_s
        self._ready: dict[str, list[Environment]] = defaultdict(list)
        self._starting: dict[str, int] = defaultdict(int)
        self._tasks = Tasks()
        self._closing = False

    def start(self) -> None:
        self.fill()

    async def close(self) -> None:
        self._closing = True
        await self._tasks.close()

    def ready(self) -> list[Environment]:
        """The generic environments waiting for a function, oldest use first."""
        return [env for envs in self._ready.values() for env in envs]

    async def take(self, fn: Function) -> Environment | None:
        """A generic environment bound to `fn`, or None when none fits (then `fn` starts cold)."""
        if fn.package_type != "Zip" or fn.ephemeral_storage != PREWARM_TMP_MB:
            return None
        ready = self._ready.get(self._pool_of(fn.runtime or ""))
        if not ready:
            return None
        env = ready.pop()
        self.fill()
        try:
            await self._launcher.specialize(env, fn)
        except Exception:
            await self._discard(env)
            raise
        return env

    def remove(self, env: Environment) -> None:
        """`env` is being stopped while it waits (to make room)."""
        if env.runtime and env in self._ready.get(env.runtime, []):
            self._ready[env.runtime].remove(env)

    def forget(self, env: Environment) -> None:
        if env.runtime is not None and env in self._ready.get(env.runtime, ()):
            # A generic environment died before it was used: replace it, but slowly, so a runtime that
            # cannot start does not spin.
            self._ready[env.runtime].remove(env)
            asyncio.get_running_loop().call_later(self.retry_s, self.fill)

    def fill(self) -> None:
        if self._closing:
            return
        for runtime in dict.fromkeys(map(self._pool_of, self._launcher.images)):
            missing = self._per_runtime - len(self._ready[runtime]) - self._starting[runtime]
            for _ in range(max(0, missing)):
                self._starting[runtime] += 1
                self._tasks.spawn(self._start(runtime))

    def _pool_of(self, runtime: str) -> str:
        """The pool a runtime's functions take from: an alias (provided.al2) shares its image's
        (provided.al2023), so the same image is not kept warm twice."""
        target = images.image_runtime(runtime)
        return target if target in self._launcher.images else runtime

    async def _start(self, runtime: str) -> None:
        try:
            env = await self._launcher.start_generic(runtime)
        except Exception as exc:
            log.warning("could not prewarm a %s environment: %s", runtime, exc)
            return
        finally:
            self._starting[runtime] -= 1
        self._ready[runtime].append(env)
