"""Execution environments of this node, behind one facade: it builds the parts (scheduling, the
prewarmed pool, credentials, the address registry, keep-alive) and is where an environment is
stopped and forgotten by all of them at once."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path

from faas.model import Function
from faas.sandbox.backend import Backend, Exited
from faas.sandbox.codecache import CodeCache
from faas.sandbox.credentials import Credentials, IssueCredentials, RevokeCredentials
from faas.sandbox.describe import describe
from faas.sandbox.environment import Environment
from faas.sandbox.launcher import Launcher
from faas.sandbox.prewarm import Prewarm
from faas.sandbox.reaper import Reaper
from faas.sandbox.registry import Registry
from faas.sandbox.scheduler import Scheduler


class Pool:
    """`runtime_api` (host:port of the Runtime API) and `platform_endpoint` (the API as functions reach it,
    their AWS_ENDPOINT_URL) are where environments find the platform."""

    def __init__(self, backend: Backend, code: CodeCache, *, images: dict[str, str], region: str, node_id: str,
                 keep_alive_s: float, max_environments: int, prewarm: int, slots: Path, prewarm_budget_mb: int = 4096,
                 issue_credentials: IssueCredentials | None = None, revoke_credentials: RevokeCredentials | None = None,
                 credentials_ttl_s: float = 3600, runtime_api: str = "", platform_endpoint: str = "",
                 image_repositories: tuple[str, ...] = ("faas/",), registry: Registry | None = None,
                 parallel_starts: int = 0) -> None:
        self._backend = backend
        self._max_environments = max_environments
        self.registry = registry if registry is not None else Registry()
        self.credentials = Credentials(issue_credentials, revoke_credentials, credentials_ttl_s)
        self.launcher = Launcher(backend, code, self.registry, self.credentials, images=images, region=region,
                                 node_id=node_id, slots=slots, image_repositories=image_repositories,
                                 runtime_api=runtime_api, platform_endpoint=platform_endpoint,
                                 parallel_starts=parallel_starts)
        self.scheduler = Scheduler(self._start_for, self.discard)
        # Refills leave one start slot to the requests that may come meanwhile.
        self.prewarm = Prewarm(self.launcher, prewarm, self.discard, budget_mb=prewarm_budget_mb,
                               room=self._prewarm_room,
                               parallel_refills=max(1, self.launcher.start_slots.size - 1))
        self.reaper = Reaper(self.scheduler, keep_alive_s, self.discard)

    @property
    def platform_endpoint(self) -> str:
        """AWS_ENDPOINT_URL as environments see it."""
        return self.launcher.platform_endpoint

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self._backend.watch(self._on_exit)
        self.launcher.clear_slots()
        self.reaper.start()
        self.prewarm.start()

    async def close(self) -> None:
        for part in (self.prewarm, self.reaper, self.scheduler):
            await part.close()
        envs = list(self.registry)
        sessions = [env.session_key for env in envs if env.session_key]
        for env in envs:
            env.session_key = None  # revoked below, and waited for, before the store closes
            self._forget(env)
        await asyncio.gather(*(self._backend.kill(env.container_id) for env in envs))
        await self.credentials.close(sessions)
        self.launcher.remove_slots()

    def describe(self) -> list[dict[str, object]]:
        """Every environment of this node, for operators (`GET /faas/v1/environments`)."""
        return describe(self.registry, self.scheduler.idle())

    # -- the invoke path -------------------------------------------------------------------------

    async def acquire(self, fn: Function) -> tuple[Environment, bool]:
        return await self.scheduler.acquire(fn)

    def release(self, env: Environment) -> None:
        self.scheduler.release(env)

    async def discard(self, env: Environment) -> None:
        self._forget(env)
        await self._backend.kill(env.container_id)

    def retire(self, name: str) -> None:
        self.scheduler.retire(name)

    # -- internals ---------------------------------------------------------------------------------

    async def _start_for(self, fn: Function, needed: Callable[[], bool]) -> Environment:
        await self._make_room()
        try:
            return await self.prewarm.take(fn) or await self.launcher.start_cold(fn, needed)
        finally:
            # Refills wait until no request waits for a start (see _prewarm_room): this one stops counting
            # once the scheduler has it, so look again right after.
            asyncio.get_running_loop().call_soon(self.prewarm.fill)

    def _prewarm_room(self) -> int:
        """How many environments the prewarmed pool may start now: none while a request waits for a start
        of its own (a refill would only slow it down), and never past the node's cap."""
        if self.scheduler.starting:
            return 0
        return self._max_environments - len(self.registry)

    async def _make_room(self) -> None:
        """At the node's environment cap, stop the idle environment that has waited longest."""
        if len(self.registry) + self.scheduler.starting <= self._max_environments:
            return
        idle = self.scheduler.idle() + self.prewarm.ready()
        if idle:
            oldest = min(idle, key=lambda env: env.idle_since)
            self.prewarm.remove(oldest)
            await self.discard(oldest)

    def _forget(self, env: Environment) -> None:
        """Everyone forgets `env`: it is dead, and the slot and credentials it held go with it."""
        env.mark_dead()
        self.registry.forget(env)
        self.scheduler.forget(env)
        self.prewarm.forget(env)
        if env.slot is not None:
            shutil.rmtree(env.slot, ignore_errors=True)
        self.credentials.drop(env)

    def _on_exit(self, exited: Exited) -> None:
        env = self.registry.get(exited.container_id)
        if env is None:
            return
        self._forget(env)
        env.exited(exited.exit_code, exited.oom_killed)
