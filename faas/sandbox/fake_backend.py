"""An in-memory container engine for tests: no Docker, each "container" a task on the event loop that
plays a runtime with a Python function, over the real Runtime API, from a loopback address of its own.

A test decides what the function does (answer, fail, be slow, crash the container) and sees what the
platform asked of the engine (`specs`, `kills`, `memory`). Ships in the package, as a fake of an
interface belongs beside it, with its own tests (tests/unit/test_fake_backend.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import ipaddress
import json
import os
import secrets
from collections.abc import Callable
from typing import Any

import aiohttp

from faas.errors import ResourceNotReady
from faas.sandbox.backend import Exited, Started
from faas.sandbox.spec import ContainerSpec

RUNTIME_PREFIX = "/2018-06-01/runtime"
KILLED = 137  # the exit status Docker reports for a killed container
FIRST_ADDRESS = ipaddress.ip_address("127.77.0.1")  # containers' addresses; the host answers all of 127/8


class ContainerExit(Exception):
    """Raised by a handler: the runtime's process ends with `exit_code` (out of memory when `oom_killed`)
    in the middle of the invocation, and the container stops."""

    def __init__(self, exit_code: int = 1, oom_killed: bool = False) -> None:
        super().__init__(f"exit status {exit_code}")
        self.exit_code = exit_code
        self.oom_killed = oom_killed


@dataclasses.dataclass
class Context:
    """What a handler is told of its invocation."""

    request_id: str
    container_id: str
    environment: dict[str, str]  # the function's environment, as its runtime got it
    logs: list[str] = dataclasses.field(default_factory=list)  # lines the function prints (see _print)

    @property
    def function_name(self) -> str:
        return self.environment.get("AWS_LAMBDA_FUNCTION_NAME", "")


# (event, context) -> result, or an awaitable of it; raise for a function error, ContainerExit to crash.
Handler = Callable[[Any, Context], Any]


def echo(event: Any, context: Context) -> Any:
    return event


@dataclasses.dataclass
class Container:
    container_id: str
    ip: str
    spec: ContainerSpec
    memory_mb: int
    running: bool = True
    invocations: int = 0
    task: asyncio.Task[None] | None = None


class FakeBackend:
    """`handler` answers every invocation; `start_delay_s` is how long a start takes; the next
    `failing_starts` starts fail as an engine that cannot start a container would."""

    def __init__(self, handler: Handler = echo, *, gateway: str = "127.0.0.1", start_delay_s: float = 0.0,
                 images: tuple[str, ...] = ()) -> None:
        self.handler = handler
        self.gateway = gateway
        self.start_delay_s = start_delay_s
        self.failing_starts = 0
        self.images = set(images)
        self.engine_architecture = "x86_64"  # what `docker info` would say
        self.containers: dict[str, Container] = {}  # every container started, running or not
        self.specs: list[ContainerSpec] = []  # what was asked to start, in order
        self.kills: list[str] = []  # container ids, in order
        self._on_exit: Callable[[Exited], None] | None = None
        self._next_address = int(FIRST_ADDRESS)

    # -- what a test looks at ------------------------------------------------------------------------

    def running(self) -> list[Container]:
        return [c for c in self.containers.values() if c.running]

    def crash(self, container_id: str, exit_code: int = 1, oom_killed: bool = False) -> None:
        """The container stops on its own, as when its runtime crashes or the kernel kills it."""
        self._stop(self.containers[container_id], exit_code, oom_killed)

    # -- the Backend interface -----------------------------------------------------------------------

    async def prepare(self) -> str:
        return self.gateway

    async def start(self, spec: ContainerSpec) -> Started:
        self.specs.append(spec)
        if self.start_delay_s:
            await asyncio.sleep(self.start_delay_s)
        if self.failing_starts > 0:
            self.failing_starts -= 1
            raise ResourceNotReady("The execution environment could not be started")
        container = Container(secrets.token_hex(32), str(ipaddress.ip_address(self._next_address)), spec,
                              spec.memory_mb)
        self._next_address += 1
        self.containers[container.container_id] = container
        container.task = asyncio.get_running_loop().create_task(self._run(container))
        return Started(container_id=container.container_id, ip=container.ip, memory_peak_file=None)

    async def kill(self, container_id: str) -> None:
        self.kills.append(container_id)
        container = self.containers.get(container_id)
        if container is not None:
            self._stop(container, KILLED, False)

    async def set_memory(self, container_id: str, memory_mb: int) -> None:
        container = self.containers.get(container_id)
        if container is None or not container.running:
            raise ResourceNotReady("The execution environment could not be resized")
        container.memory_mb = memory_mb

    async def remove_leftovers(self) -> int:
        return 0  # nothing outlives the process that made it

    def watch(self, on_exit: Callable[[Exited], None]) -> None:
        self._on_exit = on_exit

    async def image_exists(self, ref: str) -> bool:
        return ref in self.images

    async def architecture(self) -> str:
        return self.engine_architecture

    async def close(self) -> None:
        self._on_exit = None
        tasks = [c.task for c in self.containers.values() if c.task is not None and not c.task.done()]
        for container in self.running():
            container.running = False
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- the containers ------------------------------------------------------------------------------

    def _stop(self, container: Container, exit_code: int, oom_killed: bool) -> None:
        if not container.running:
            return
        container.running = False
        if container.task is not None and container.task is not asyncio.current_task():
            container.task.cancel()
        if self._on_exit is not None:  # as Docker's event stream: on the loop, a moment later
            asyncio.get_running_loop().call_soon(self._on_exit, Exited(container.container_id, exit_code,
                                                                       oom_killed))

    async def _run(self, container: Container) -> None:
        """The runtime: be specialised if generic, then take events from /next and answer each one."""
        base = f"http://{container.spec.environment['AWS_LAMBDA_RUNTIME_API']}{RUNTIME_PREFIX}"
        connector = aiohttp.TCPConnector(local_addr=(container.ip, 0))
        try:
            async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None)) as http:
                environment = dict(container.spec.environment)
                if environment.get("FAAS_PREWARMED"):
                    async with http.get(f"{base}/faas/specialize") as answer:
                        if answer.status != 200:
                            raise ContainerExit(1)
                        environment = (await answer.json())["environment"]
                while True:
                    async with http.get(f"{base}/invocation/next") as answer:
                        if answer.status != 200:
                            raise ContainerExit(1)
                        request_id = answer.headers["Lambda-Runtime-Aws-Request-Id"]
                        event = json.loads(await answer.read())
                    container.invocations += 1
                    context = Context(request_id, container.container_id, environment)
                    try:
                        outcome, body = await self._call(event, context)
                    finally:  # printed before the answer, or before the crash
                        _print(container.spec, context.logs)
                    async with http.post(f"{base}/invocation/{request_id}/{outcome}", data=body):
                        pass
        except ContainerExit as exit:
            self._stop(container, exit.exit_code, exit.oom_killed)
        except (aiohttp.ClientError, OSError):
            self._stop(container, 1, False)  # a runtime that loses the Runtime API exits

    async def _call(self, event: Any, context: Context) -> tuple[str, bytes]:
        try:
            result = self.handler(event, context)
            if inspect.isawaitable(result):
                result = await result
        except ContainerExit:
            raise
        except Exception as exc:
            error = {"errorMessage": str(exc), "errorType": type(exc).__name__, "stackTrace": []}
            return "error", json.dumps(error).encode()
        return "response", json.dumps(result).encode()


def _print(spec: ContainerSpec, lines: list[str]) -> None:
    """The lines to the container's stdout, the platform's pipe, as a runtime's print would."""
    if not lines or spec.output_pipe is None:
        return
    fd = os.open(spec.output_pipe, os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(fd, "".join(line + "\n" for line in lines).encode())
    finally:
        os.close(fd)
