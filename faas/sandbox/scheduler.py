"""Scheduling invocations onto environments per function revision: reuse an idle one, start one per
waiting request, and hand each freed environment to the longest waiter."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable

from faas.model import Function
from faas.sandbox.environment import Environment
from faas.sandbox.start_slots import StartNotNeeded
from faas.sandbox.tasks import Tasks

Key = tuple[str, str]  # (function name, revision id)


class Scheduler:
    """`start(fn, needed)` brings up a new environment for a function (from the prewarmed pool or cold),
    asking `needed()` once a container may start, and raising StartNotNeeded when it says no; `discard`
    stops one (and makes everyone forget it)."""

    def __init__(self, start: Callable[[Function, Callable[[], bool]], Awaitable[Environment]],
                 discard: Callable[[Environment], Awaitable[None]]) -> None:
        self._start = start
        self._discard = discard
        self._idle: dict[Key, list[Environment]] = defaultdict(list)
        self._waiting: dict[Key, deque[asyncio.Future[Environment]]] = defaultdict(deque)
        self._current: dict[str, str] = {}  # function -> the revision new invocations use
        self._starting_for: dict[Key, int] = defaultdict(int)
        self._launching: dict[Key, int] = defaultdict(int)  # starts past their slot, each for a request
        self.starting = 0  # environments being started, counted against the node's cap before they exist
        self._tasks = Tasks()

    async def close(self) -> None:
        await self._tasks.close()

    def _take_idle(self, fn: Function) -> Environment | None:
        """An idle environment of `fn`'s revision, if one is parked."""
        key = (fn.name, fn.revision_id)
        self._current[fn.name] = fn.revision_id
        idle = self._idle.get(key)
        while idle:
            env = idle.pop()
            if env.dead:
                continue
            if time.monotonic() >= env.retire_at:  # its credentials are getting old: a fresh one instead
                self._tasks.spawn(self._discard(env))
                continue
            return env
        return None

    async def acquire(self, fn: Function) -> tuple[Environment, bool]:
        """An idle environment of this revision, else the first one to become free: a new one is started
        for this request (scale-out per concurrent request), but one released meanwhile serves it sooner.
        Returns (environment, cold)."""
        env = self._take_idle(fn)
        if env is not None:
            return env, env.invocations == 0
        key = (fn.name, fn.revision_id)
        waiter: asyncio.Future[Environment] = asyncio.get_running_loop().create_future()
        waiting = self._waiting[key]
        waiting.append(waiter)
        # One start per waiting request, counting starts already under way: under load a busy
        # environment is often freed before a new one is up, and that must not snowball into more starts.
        if self._starting_for[key] < sum(1 for w in waiting if not w.done()):
            self._tasks.spawn(self._start_for(fn))
        env = await waiter
        return env, env.invocations == 0

    def release(self, env: Environment) -> None:
        env.current = None
        if env.dead:
            return
        if env.key is None or self._current.get(env.key[0]) != env.key[1] or time.monotonic() >= env.retire_at:
            self._tasks.spawn(self._discard(env))  # its function changed or is gone, or its credentials age
            return
        self._offer(env)

    def retire(self, name: str) -> None:
        """Stop the idle environments of a function whose code or configuration changed or which is gone;
        busy ones finish their invocation and are stopped on release."""
        self._current.pop(name, None)
        for key in [k for k in self._idle if k[0] == name]:
            for env in self._idle.pop(key):
                self._tasks.spawn(self._discard(env))

    def idle(self) -> list[Environment]:
        """Every parked environment."""
        return [env for envs in self._idle.values() for env in envs]

    def expired(self, keep_alive_s: float) -> list[Environment]:
        """Parked environments idle for longer than `keep_alive_s`, or whose credentials age."""
        now = time.monotonic()
        cutoff = now - keep_alive_s
        return [env for env in self.idle() if env.idle_since < cutoff or env.retire_at <= now]

    def forget(self, env: Environment) -> None:
        if env.key is not None and env in self._idle.get(env.key, ()):
            self._idle[env.key].remove(env)

    def _offer(self, env: Environment) -> None:
        """Hand a free environment to the longest-waiting request for its revision, else park it idle."""
        assert env.key is not None
        waiting = self._waiting.get(env.key)
        while waiting:
            waiter = waiting.popleft()
            if not waiter.done():
                waiter.set_result(env)
                return
        env.idle_since = time.monotonic()
        self._idle[env.key].append(env)

    def _fail_one_waiter(self, key: Key, error: BaseException) -> None:
        waiting = self._waiting.get(key)
        while waiting:
            waiter = waiting.popleft()
            if not waiter.done():
                waiter.set_exception(error)
                return

    async def _start_for(self, fn: Function) -> None:
        key = (fn.name, fn.revision_id)
        claimed = False

        def needed() -> bool:
            """A start queued for a slot goes ahead only for a request still waiting and not already
            covered by a start that went ahead: under a burst, environments freed meanwhile serve many."""
            nonlocal claimed
            waiting = sum(1 for w in self._waiting.get(key, ()) if not w.done())
            claimed = waiting > self._launching[key]
            if claimed:
                self._launching[key] += 1
            return claimed

        self.starting += 1
        self._starting_for[key] += 1
        try:
            env = await self._start(fn, needed)
        except StartNotNeeded:
            return
        except Exception as exc:
            self._fail_one_waiter(key, exc)
            return
        finally:
            self.starting -= 1
            self._starting_for[key] -= 1
            if not self._starting_for[key]:
                del self._starting_for[key]
            if claimed:
                self._launching[key] -= 1
                if not self._launching[key]:
                    del self._launching[key]
        self._offer(env)
