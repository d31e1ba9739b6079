"""Starting environments: a function's own container, a generic prewarmed one, and binding a generic
one to its function; each with its /var/task slot, its environment variables and its credentials."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from faas.errors import ResourceNotReady
from faas.model import Function, utcnow
from faas.sandbox import repositories
from faas.sandbox.backend import Backend
from faas.sandbox.codecache import CodeCache
from faas.sandbox.credentials import Credentials
from faas.sandbox.environment import Environment
from faas.sandbox.output import OutputPipe
from faas.sandbox.registry import Registry
from faas.sandbox.start_slots import StartNotNeeded, StartSlots, default_parallel_starts
from faas.sandbox.spec import PREWARM_MEMORY_MB, container_spec, generic_environment, lambda_environment, \
    log_stream_name, prewarmed_spec


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


class Launcher:
    """`runtime_api` (host:port) and `platform_endpoint` (AWS_ENDPOINT_URL) are the addresses
    environments reach the platform at."""

    def __init__(self, backend: Backend, code: CodeCache, registry: Registry, credentials: Credentials, *,
                 images: dict[str, str], region: str, node_id: str, slots: Path,
                 image_repositories: tuple[str, ...] = ("faas/",), runtime_api: str = "",
                 platform_endpoint: str = "", parallel_starts: int = 0) -> None:
        self._backend = backend
        self._code = code
        self._registry = registry
        self._credentials = credentials
        self.images = images
        self._region = region
        self._node_id = node_id
        self._slots = slots
        self._outputs = slots.with_name("outputs")  # beside the slots: one FIFO per environment
        self._image_repositories = image_repositories
        self.runtime_api = runtime_api
        self.platform_endpoint = platform_endpoint
        self.start_slots = StartSlots(parallel_starts or default_parallel_starts())

    def clear_slots(self) -> None:
        for directory in (self._slots, self._outputs):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            for stale in directory.iterdir():  # slots and pipes of a previous run; their containers are gone
                if stale.is_dir():
                    shutil.rmtree(stale, ignore_errors=True)
                else:
                    stale.unlink(missing_ok=True)

    def remove_slots(self) -> None:
        shutil.rmtree(self._slots, ignore_errors=True)
        shutil.rmtree(self._outputs, ignore_errors=True)

    def new_output(self) -> OutputPipe:
        """The pipe an environment's stdout and stderr go to, named at random like its slot (mountinfo shows it)."""
        self._outputs.mkdir(mode=0o700, parents=True, exist_ok=True)
        return OutputPipe(self._outputs / secrets.token_hex(8))

    async def start_cold(self, fn: Function, needed: Callable[[], bool] | None = None) -> Environment:
        """A container of `fn`'s own, once a start slot is free and if `needed()` still says so (else
        StartNotNeeded). Its Init Duration counts from the slot: the queue before is no environment's init."""
        async with self.start_slots.slot(urgent=True):
            if needed is not None and not needed():
                raise StartNotNeeded()
            return await self._start_cold(fn)

    async def _start_cold(self, fn: Function) -> Environment:
        created_at = time.monotonic()
        slot: Path | None = None
        if fn.package_type == "Zip":
            assert fn.code_sha256 is not None and fn.runtime is not None
            slot = await asyncio.to_thread(new_slot, self._slots, await self._code.directory(fn.code_sha256))
            code_dir: str | None = str(slot)
            image = self.images[fn.runtime]
            # The runtime is told its variables and credentials over the Runtime API, not by Docker.
            environment = generic_environment(region=self._region, runtime_api=self.runtime_api)
        else:
            # Checked when the function was stored; again here, so narrowing the setting stops old ones too.
            repo = repositories.repository(fn.image_uri or "")
            if repo is None or not repositories.allowed(repo, self._image_repositories):
                raise ResourceNotReady(f"The image {fn.image_uri} is not in a repository this node allows")
            # An image's own runtime (awslambdaric, say) only reads the process environment.
            code_dir, image = None, fn.image_uri or ""
            environment, session_key = await self.function_environment(fn)
        output = self.new_output()
        try:
            spec = container_spec(fn, image=image, region=self._region, runtime_api=self.runtime_api,
                                  node_id=self._node_id, code_dir=code_dir, environment=environment,
                                  output_pipe=str(output.path))
            if fn.package_type != "Zip":
                started = await self._backend.start(spec)
            else:
                # The function's environment (credentials: one SQL insert) is made while the container starts.
                starting = asyncio.ensure_future(self._backend.start(spec))
                try:
                    environment, session_key = await self.function_environment(fn)
                except BaseException:
                    with contextlib.suppress(Exception):
                        await self._backend.kill((await starting).container_id)
                    raise
                try:
                    started = await starting
                except BaseException:
                    await self._credentials.revoke(session_key)
                    raise
        except BaseException:
            output.close()
            if slot is not None:
                shutil.rmtree(slot, ignore_errors=True)
            raise
        env = Environment(started.container_id, started.ip, started.memory_peak_file, created_at, function=fn,
                          slot=slot, output=output)
        self._registry.register(env, created_at)
        if fn.package_type == "Zip":
            env.specialize(fn, environment, prewarmed=False)
        else:
            env.log_stream = environment["AWS_LAMBDA_LOG_STREAM_NAME"]
        self._credentials.hold(env, session_key)
        return env

    async def start_generic(self, runtime: str, memory_mb: int = PREWARM_MEMORY_MB) -> Environment:
        """A prewarmed environment of `runtime`, waiting on the Runtime API to be bound to a function; its
        start waits behind the starts requests wait for."""
        async with self.start_slots.slot(urgent=False):
            return await self._start_generic(runtime, memory_mb)

    async def _start_generic(self, runtime: str, memory_mb: int) -> Environment:
        created_at = time.monotonic()
        slot = new_slot(self._slots)
        output = self.new_output()
        try:
            spec = prewarmed_spec(runtime, image=self.images[runtime], region=self._region,
                                  runtime_api=self.runtime_api, node_id=self._node_id, slot=str(slot),
                                  output_pipe=str(output.path), memory_mb=memory_mb)
            started = await self._backend.start(spec)
        except BaseException:
            output.close()
            shutil.rmtree(slot, ignore_errors=True)
            raise
        env = Environment(started.container_id, started.ip, started.memory_peak_file, created_at,
                          runtime=runtime, slot=slot, prewarmed=True, output=output, memory_mb=memory_mb)
        self._registry.register(env, created_at)
        return env

    async def specialize(self, env: Environment, fn: Function) -> None:
        """Bind a running generic environment to `fn`: link its code in, set its limits, hand it the env."""
        assert fn.code_sha256 is not None and env.slot is not None
        slot = env.slot

        async def prepare() -> None:
            code_dir = await self._code.directory(fn.code_sha256)
            await asyncio.to_thread(link_tree, code_dir, slot)
            if fn.memory_size != env.memory_mb:
                await self._backend.set_memory(env.container_id, fn.memory_size)
                env.memory_mb = fn.memory_size

        # the code, the limits and the credentials, side by side
        _, (environment, session_key) = await asyncio.gather(prepare(), self.function_environment(fn))
        env.specialize(fn, environment, prewarmed=True)
        self._credentials.hold(env, session_key)

    async def function_environment(self, fn: Function) -> tuple[dict[str, str], str | None]:
        """Everything the function's runtime sees: Lambda's variables, the function's own, and
        short-lived credentials for its execution role (with the session's key id, to revoke)."""
        environment = lambda_environment(fn, region=self._region, runtime_api=self.runtime_api,
                                         log_stream=log_stream_name(utcnow()))
        if not self._credentials.enabled:
            return environment, None
        credentials, session_key = await self._credentials.issue(fn)
        environment.update(credentials)
        if self.platform_endpoint:
            environment["AWS_ENDPOINT_URL"] = self.platform_endpoint
        return environment, session_key
