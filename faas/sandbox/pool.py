"""Execution environments per function revision: reuse idle ones, start one per extra concurrent
request, stop idle ones after the keep-alive window, and notice when one dies."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import defaultdict

from faas.model import Function, utcnow
from faas.sandbox.backend import Backend, Exited
from faas.sandbox.codecache import CodeCache
from faas.sandbox.environment import Environment, Outcome
from faas.sandbox.spec import container_spec, log_stream_name

log = logging.getLogger(__name__)

REGISTRATION_WAIT_S = 5.0


class Pool:
    def __init__(self, backend: Backend, code: CodeCache, *, images: dict[str, str], region: str,
                 node_id: str, keep_alive_s: float) -> None:
        self._backend = backend
        self._code = code
        self._images = images
        self._region = region
        self._node_id = node_id
        self._keep_alive_s = keep_alive_s
        self.runtime_api = ""  # host:port, set once the Runtime API listens
        self._idle: dict[tuple[str, str], list[Environment]] = defaultdict(list)
        self._by_ip: dict[str, Environment] = {}
        self._by_id: dict[str, Environment] = {}
        self._ip_waiters: dict[str, list[tuple[float, asyncio.Future[Environment | None]]]] = {}
        self._reaper: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self._backend.watch(self._on_exit)
        self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        envs = list(self._by_id.values())
        for env in envs:
            self._forget(env)
        await asyncio.gather(*(self._backend.kill(env.container_id) for env in envs))

    @property
    def environments(self) -> int:
        return len(self._by_id)

    # -- the invoke path -------------------------------------------------------------------------

    async def acquire(self, fn: Function) -> tuple[Environment, bool]:
        """An idle environment of this revision, else a new one. Returns (environment, cold)."""
        idle = self._idle.get((fn.name, fn.revision_id))
        while idle:
            env = idle.pop()
            if not env.dead:
                return env, False
        return await self._start(fn), True

    def release(self, env: Environment) -> None:
        env.current = None
        if env.dead:
            return
        env.idle_since = time.monotonic()
        self._idle[env.key].append(env)

    async def discard(self, env: Environment) -> None:
        self._forget(env)
        await self._backend.kill(env.container_id)

    def retire(self, name: str) -> None:
        """Stop the idle environments of a function whose code or configuration changed or which is gone;
        busy ones finish their invocation and are stopped on release."""
        for key in [k for k in self._idle if k[0] == name]:
            for env in self._idle.pop(key):
                self._forget(env)
                asyncio.get_running_loop().create_task(self._backend.kill(env.container_id))

    # -- the Runtime API's view --------------------------------------------------------------------

    async def environment_at(self, ip: str) -> Environment | None:
        """The environment a Runtime API request comes from, identified by its address on the bridge.

        Docker hands a dead container's address to the next one at once, so a request is only ever
        attributed to an environment created before the request arrived: a killed container's last
        request, still in flight, must not take the next container's invocation.
        """
        arrived = time.monotonic()
        env = self._by_ip.get(ip)
        if env is not None:
            return env if env.started_at <= arrived else None
        # The runtime can ask before start() has learnt the container's address.
        waiter: asyncio.Future[Environment | None] = asyncio.get_running_loop().create_future()
        self._ip_waiters.setdefault(ip, []).append((arrived, waiter))
        try:
            return await asyncio.wait_for(waiter, REGISTRATION_WAIT_S)
        except asyncio.TimeoutError:
            return None
        finally:
            waiters = self._ip_waiters.get(ip)
            if waiters and (arrived, waiter) in waiters:
                waiters.remove((arrived, waiter))
                if not waiters:
                    del self._ip_waiters[ip]

    # -- internals ---------------------------------------------------------------------------------

    async def _start(self, fn: Function) -> Environment:
        started_at = time.monotonic()
        if fn.package_type == "Zip":
            assert fn.code_sha256 is not None and fn.runtime is not None
            code_dir = str(await self._code.directory(fn.code_sha256))
            image = self._images[fn.runtime]
        else:
            code_dir, image = None, fn.image_uri or ""
        spec = container_spec(fn, image=image, region=self._region, runtime_api=self.runtime_api,
                              node_id=self._node_id, code_dir=code_dir, log_stream=log_stream_name(utcnow()))
        started = await self._backend.start(spec)
        env = Environment(fn, started.container_id, started.ip, started.memory_peak_file, started_at)
        self._by_id[env.container_id] = env
        self._by_ip[env.ip] = env  # an address Docker reuses belongs to the newest container
        for arrived, waiter in self._ip_waiters.pop(env.ip, []):
            if not waiter.done():
                waiter.set_result(env if arrived >= started_at else None)
        return env

    def _forget(self, env: Environment) -> None:
        env.mark_dead()
        self._by_id.pop(env.container_id, None)
        if self._by_ip.get(env.ip) is env:
            del self._by_ip[env.ip]
        idle = self._idle.get(env.key)
        if idle and env in idle:
            idle.remove(env)

    def _on_exit(self, exited: Exited) -> None:
        env = self._by_id.get(exited.container_id)
        if env is None:
            return
        env.oom_killed = exited.oom_killed
        self._forget(env)
        invocation = env.current
        if invocation is not None:
            reason = "signal: killed" if exited.oom_killed or exited.exit_code == 137 else (
                f"exit status {exited.exit_code}")
            message = f"RequestId: {invocation.request_id} Error: Runtime exited with error: {reason}"
            if exited.oom_killed:
                message = (f"RequestId: {invocation.request_id} Error: Runtime exited with error: {reason} "
                           f"(out of memory: the function needs more than {env.function.memory_size} MB)")
            body = json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message}).encode()
            invocation.finish(Outcome(body=body, error_type="Runtime.ExitError", environment_lost=True))

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(min(10.0, max(self._keep_alive_s / 4, 0.25)))
            cutoff = time.monotonic() - self._keep_alive_s
            for key, envs in list(self._idle.items()):
                for env in [e for e in envs if e.idle_since < cutoff]:
                    log.debug("stopping idle environment %s of %s", env.container_id[:12], key[0])
                    await self.discard(env)

