"""Execution environments per function revision: reuse idle ones, start one per extra concurrent
request, keep prewarmed generic ones ready per runtime, stop idle ones after the keep-alive window,
and notice when one dies."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from pathlib import Path

from faas.errors import ResourceNotReady
from faas.model import Function, utcnow
from faas.sandbox import repositories
from faas.sandbox.backend import Backend, Exited
from faas.sandbox.codecache import CodeCache
from faas.sandbox.environment import Environment, Outcome
from faas.sandbox.spec import PREWARM_MEMORY_MB, PREWARM_TMP_MB, container_spec, generic_environment, \
    lambda_environment, log_stream_name, prewarmed_spec

log = logging.getLogger(__name__)

REGISTRATION_WAIT_S = 5.0
PREWARM_RETRY_S = 5.0
Key = tuple[str, str]  # (function name, revision id)
# (function) -> (AWS_* credential variables for its role, the session's key id to revoke later)
IssueCredentials = Callable[[Function], Awaitable[tuple[dict[str, str], str]]]
RevokeCredentials = Callable[[str], Awaitable[None]]


def link_tree(source: Path, target: Path) -> None:
    """Fill an environment's /var/task with hard links to the unpacked code (no copying)."""
    shutil.copytree(source, target, copy_function=os.link, dirs_exist_ok=True)


def new_slot(slots: Path, code_dir: Path | None = None) -> Path:
    """A directory of its own for one environment's /var/task, named at random: its path is what the
    function sees in /proc/self/mountinfo, so it must say nothing of the node's directories or of the code."""
    slot = slots / secrets.token_hex(8)
    slot.mkdir()
    slot.chmod(0o755)  # readable by the sandbox user whatever the server's umask
    if code_dir is not None:
        try:
            link_tree(code_dir, slot)
        except BaseException:
            shutil.rmtree(slot, ignore_errors=True)
            raise
    return slot


class Pool:
    def __init__(self, backend: Backend, code: CodeCache, *, images: dict[str, str], region: str, node_id: str,
                 keep_alive_s: float, max_environments: int, prewarm: int, slots: Path,
                 issue_credentials: IssueCredentials | None = None, revoke_credentials: RevokeCredentials | None = None,
                 credentials_ttl_s: float = 3600, platform_endpoint: str = "",
                 image_repositories: tuple[str, ...] = ("faas/",), runtime_api: str = "") -> None:
        self._backend = backend
        self._code = code
        self._images = images
        self._region = region
        self._node_id = node_id
        self._keep_alive_s = keep_alive_s
        self._max_environments = max_environments
        self._prewarm = prewarm
        self._slots = slots
        self._issue_credentials = issue_credentials
        self._revoke_credentials = revoke_credentials
        self._credentials_ttl_s = credentials_ttl_s
        self._image_repositories = image_repositories
        self.platform_endpoint = platform_endpoint  # AWS_ENDPOINT_URL as seen from inside environments
        self.runtime_api = runtime_api  # host:port of the Runtime API, as seen from inside environments
        self._idle: dict[Key, list[Environment]] = defaultdict(list)
        self._waiting: dict[Key, deque[asyncio.Future[Environment]]] = defaultdict(deque)
        self._current: dict[str, str] = {}  # function -> the revision new invocations use
        self._prewarmed: dict[str, list[Environment]] = defaultdict(list)
        self._prewarming: dict[str, int] = defaultdict(int)
        self._starting = 0
        self._starting_for: dict[Key, int] = defaultdict(int)
        self._by_ip: dict[str, Environment] = {}
        self._by_id: dict[str, Environment] = {}
        self._ip_waiters: dict[str, list[tuple[float, asyncio.Future[Environment | None]]]] = {}
        self._tasks: set[asyncio.Task] = set()
        self._closing = False

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self._backend.watch(self._on_exit)
        self._slots.mkdir(parents=True, exist_ok=True)
        for stale in self._slots.iterdir():  # slots of a previous run; their containers are gone
            shutil.rmtree(stale, ignore_errors=True)
        self._spawn(self._reap_forever())  # cancelled with every other task on close()
        self._refill_prewarmed()

    async def close(self) -> None:
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        envs = list(self._by_id.values())
        sessions = [env.session_key for env in envs if env.session_key]
        for env in envs:
            env.session_key = None  # revoked below, and waited for, before the store closes
            self._forget(env)
        await asyncio.gather(*(self._backend.kill(env.container_id) for env in envs))
        if self._revoke_credentials is not None:
            for session in sessions:
                await self._revoke_credentials(session)
        shutil.rmtree(self._slots, ignore_errors=True)

    def describe(self) -> list[dict[str, object]]:
        """Every environment of this node, for operators (`GET /faas/v1/environments`)."""
        idle = {id(env) for envs in self._idle.values() for env in envs}
        rows = []
        for env in self._by_id.values():
            if env.function is None:
                state = "prewarmed"
            else:
                state = "busy" if env.current is not None else ("idle" if id(env) in idle else "starting")
            rows.append({
                "ContainerId": env.container_id,
                "Runtime": env.runtime,
                "FunctionName": env.function.name if env.function else None,
                "RevisionId": env.function.revision_id if env.function else None,
                "State": state,
                "Invocations": env.invocations,
                "Prewarmed": env.prewarmed,
            })
        return rows

    # -- the invoke path -------------------------------------------------------------------------

    async def acquire(self, fn: Function) -> tuple[Environment, bool]:
        """An idle environment of this revision, else the first one to become free: a new one is started
        for this request (scale-out per concurrent request), but one released meanwhile serves it sooner.
        Returns (environment, cold)."""
        key = (fn.name, fn.revision_id)
        self._current[fn.name] = fn.revision_id
        idle = self._idle.get(key)
        while idle:
            env = idle.pop()
            if env.dead:
                continue
            if time.monotonic() >= env.retire_at:  # its credentials are getting old: a fresh one instead
                self._spawn(self.discard(env))
                continue
            return env, env.invocations == 0
        waiter: asyncio.Future[Environment] = asyncio.get_running_loop().create_future()
        waiting = self._waiting[key]
        waiting.append(waiter)
        # One start per waiting request, counting starts already under way: under load a busy
        # environment is often freed before a new one is up, and that must not snowball into more starts.
        if self._starting_for[key] < sum(1 for w in waiting if not w.done()):
            self._spawn(self._start_for(fn))
        env = await waiter
        return env, env.invocations == 0

    def release(self, env: Environment) -> None:
        env.current = None
        if env.dead:
            return
        if env.key is None or self._current.get(env.key[0]) != env.key[1] or time.monotonic() >= env.retire_at:
            self._spawn(self.discard(env))  # its function changed or is gone, or its credentials age
            return
        self._offer(env)

    async def discard(self, env: Environment) -> None:
        self._forget(env)
        await self._backend.kill(env.container_id)

    def retire(self, name: str) -> None:
        """Stop the idle environments of a function whose code or configuration changed or which is gone;
        busy ones finish their invocation and are stopped on release."""
        self._current.pop(name, None)
        for key in [k for k in self._idle if k[0] == name]:
            for env in self._idle.pop(key):
                self._spawn(self.discard(env))

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
            return env if env.created_at <= arrived else None
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

    def _spawn(self, coro) -> asyncio.Task:  # type: ignore[no-untyped-def]
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

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
        self._starting += 1
        self._starting_for[key] += 1
        try:
            await self._make_room()
            env = await self._specialize_prewarmed(fn) or await self._start_cold(fn)
        except Exception as exc:
            self._fail_one_waiter(key, exc)
            return
        finally:
            self._starting -= 1
            self._starting_for[key] -= 1
            if not self._starting_for[key]:
                del self._starting_for[key]
        self._offer(env)

    async def _make_room(self) -> None:
        """At the node's environment cap, stop the idle environment that has waited longest."""
        if len(self._by_id) + self._starting <= self._max_environments:
            return
        idle = [env for envs in self._idle.values() for env in envs] + \
               [env for envs in self._prewarmed.values() for env in envs]
        if idle:
            oldest = min(idle, key=lambda env: env.idle_since)
            if oldest.runtime and oldest in self._prewarmed.get(oldest.runtime, []):
                self._prewarmed[oldest.runtime].remove(oldest)
            await self.discard(oldest)

    async def _start_cold(self, fn: Function) -> Environment:
        created_at = time.monotonic()
        slot: Path | None = None
        if fn.package_type == "Zip":
            assert fn.code_sha256 is not None and fn.runtime is not None
            slot = await asyncio.to_thread(new_slot, self._slots, await self._code.directory(fn.code_sha256))
            code_dir: str | None = str(slot)
            image = self._images[fn.runtime]
            # The runtime is told its variables and credentials over the Runtime API, not by Docker.
            environment = generic_environment(region=self._region, runtime_api=self.runtime_api)
        else:
            # Checked when the function was stored; again here, so narrowing the setting stops old ones too.
            repo = repositories.repository(fn.image_uri or "")
            if repo is None or not repositories.allowed(repo, self._image_repositories):
                raise ResourceNotReady(f"The image {fn.image_uri} is not in a repository this node allows")
            # An image's own runtime (awslambdaric, say) only reads the process environment.
            code_dir, image = None, fn.image_uri or ""
            environment, session_key = await self._function_environment(fn)
        try:
            spec = container_spec(fn, image=image, region=self._region, runtime_api=self.runtime_api,
                                  node_id=self._node_id, code_dir=code_dir, environment=environment)
            if fn.package_type != "Zip":
                started = await self._backend.start(spec)
            else:
                # The function's environment (credentials: one SQL insert) is made while the container starts.
                starting = asyncio.ensure_future(self._backend.start(spec))
                try:
                    environment, session_key = await self._function_environment(fn)
                except BaseException:
                    with contextlib.suppress(Exception):
                        await self._backend.kill((await starting).container_id)
                    raise
                try:
                    started = await starting
                except BaseException:
                    if session_key is not None and self._revoke_credentials is not None:
                        await self._revoke_credentials(session_key)
                    raise
        except BaseException:
            if slot is not None:
                shutil.rmtree(slot, ignore_errors=True)
            raise
        env = Environment(started.container_id, started.ip, started.memory_peak_file, created_at, function=fn,
                          slot=slot)
        self._register(env, created_at)
        if fn.package_type == "Zip":
            env.specialize(fn, environment, prewarmed=False)
        self._hold_credentials(env, session_key)
        return env

    async def _function_environment(self, fn: Function) -> tuple[dict[str, str], str | None]:
        """Everything the function's runtime sees: Lambda's variables, the function's own, and
        short-lived credentials for its execution role (with the session's key id, to revoke)."""
        environment = lambda_environment(fn, region=self._region, runtime_api=self.runtime_api,
                                         log_stream=log_stream_name(utcnow()))
        if self._issue_credentials is None:
            return environment, None
        credentials, session_key = await self._issue_credentials(fn)
        environment.update(credentials)
        if self.platform_endpoint:
            environment["AWS_ENDPOINT_URL"] = self.platform_endpoint
        return environment, session_key

    def _hold_credentials(self, env: Environment, session_key: str | None) -> None:
        env.session_key = session_key
        if session_key is not None:
            # Retired (at its next release) while its credentials still have half their life left.
            env.retire_at = time.monotonic() + self._credentials_ttl_s / 2

    async def _specialize_prewarmed(self, fn: Function) -> Environment | None:
        """Bind a running generic environment to `fn`: link its code in, set its limits, hand it the env."""
        if fn.package_type != "Zip" or fn.ephemeral_storage != PREWARM_TMP_MB:
            return None
        ready = self._prewarmed.get(fn.runtime or "")
        if not ready:
            return None
        env = ready.pop()
        self._refill_prewarmed()
        assert fn.code_sha256 is not None and env.slot is not None
        async def prepare() -> None:
            code_dir = await self._code.directory(fn.code_sha256)
            await asyncio.to_thread(link_tree, code_dir, env.slot)
            if fn.memory_size != PREWARM_MEMORY_MB:
                await self._backend.set_memory(env.container_id, fn.memory_size)

        try:  # the code, the limits and the credentials, side by side
            _, (environment, session_key) = await asyncio.gather(prepare(), self._function_environment(fn))
        except Exception:
            await self.discard(env)
            raise
        env.specialize(fn, environment, prewarmed=True)
        self._hold_credentials(env, session_key)
        return env

    def _refill_prewarmed(self) -> None:
        if self._closing:
            return
        for runtime, image in self._images.items():
            missing = self._prewarm - len(self._prewarmed[runtime]) - self._prewarming[runtime]
            for _ in range(max(0, missing)):
                self._prewarming[runtime] += 1
                self._spawn(self._start_prewarmed(runtime, image))

    async def _start_prewarmed(self, runtime: str, image: str) -> None:
        created_at = time.monotonic()
        slot: Path | None = None
        try:
            slot = new_slot(self._slots)
            spec = prewarmed_spec(runtime, image=image, region=self._region, runtime_api=self.runtime_api,
                                  node_id=self._node_id, slot=str(slot))
            started = await self._backend.start(spec)
        except Exception as exc:
            log.warning("could not prewarm a %s environment: %s", runtime, exc)
            if slot is not None:
                shutil.rmtree(slot, ignore_errors=True)
            return
        finally:
            self._prewarming[runtime] -= 1
        env = Environment(started.container_id, started.ip, started.memory_peak_file, created_at,
                          runtime=runtime, slot=slot, prewarmed=True)
        self._register(env, created_at)
        self._prewarmed[runtime].append(env)

    def _register(self, env: Environment, created_at: float) -> None:
        env.created_at = created_at
        self._by_id[env.container_id] = env
        self._by_ip[env.ip] = env  # an address Docker reuses belongs to the newest container
        for arrived, waiter in self._ip_waiters.pop(env.ip, []):
            if not waiter.done():
                waiter.set_result(env if arrived >= created_at else None)

    def _forget(self, env: Environment) -> None:
        env.mark_dead()
        self._by_id.pop(env.container_id, None)
        if self._by_ip.get(env.ip) is env:
            del self._by_ip[env.ip]
        if env.key is not None and env in self._idle.get(env.key, ()):
            self._idle[env.key].remove(env)
        if env.runtime is not None and env in self._prewarmed.get(env.runtime, ()):
            # A generic environment died before it was used: replace it, but slowly, so a runtime that
            # cannot start does not spin.
            self._prewarmed[env.runtime].remove(env)
            asyncio.get_running_loop().call_later(PREWARM_RETRY_S, self._refill_prewarmed)
        if env.slot is not None:
            shutil.rmtree(env.slot, ignore_errors=True)
        if env.session_key is not None and self._revoke_credentials is not None:
            # A stopped environment's credentials stop working.
            self._spawn(self._revoke_credentials(env.session_key))
            env.session_key = None

    def _on_exit(self, exited: Exited) -> None:
        env = self._by_id.get(exited.container_id)
        if env is None:
            return
        self._forget(env)
        invocation = env.current
        if invocation is not None:
            killed = exited.oom_killed or exited.exit_code == 137
            reason = "signal: killed" if killed else f"exit status {exited.exit_code}"
            message = f"RequestId: {invocation.request_id} Error: Runtime exited with error: {reason}"
            if exited.oom_killed and env.function is not None:
                # Files in /tmp and /dev/shm live in memory: a /tmp bigger than the memory left fills it first.
                message += (f" (out of memory: the function needs more than {env.function.memory_size} MB; "
                            "files in /tmp and /dev/shm count towards it)")
            body = json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message}).encode()
            invocation.finish(Outcome(body=body, error_type="Runtime.ExitError", environment_lost=True))

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(min(10.0, max(self._keep_alive_s / 4, 0.25)))
            cutoff = time.monotonic() - self._keep_alive_s
            now = time.monotonic()
            for key, envs in list(self._idle.items()):
                for env in [e for e in envs if e.idle_since < cutoff or e.retire_at <= now]:
                    log.debug("stopping idle environment %s of %s", env.container_id[:12], key[0])
                    await self.discard(env)
