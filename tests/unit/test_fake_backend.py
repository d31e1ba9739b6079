"""The in-memory backend keeps the promises of the Backend interface that the pool relies on, and its
runtime speaks the real Runtime API for the handler a test gives it."""

from __future__ import annotations

import asyncio
import json
import time
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from faas.listener import bind

from faas.errors import ResourceNotReady
from faas.sandbox import registry as registry_module
from faas.sandbox import runtime_api
from faas.sandbox.backend import Exited
from faas.sandbox.environment import Environment, Invocation
from faas.sandbox.fake_backend import KILLED, Context, ContainerExit, FakeBackend
from faas.sandbox.output import OutputPipe
from faas.sandbox.registry import Registry
from faas.sandbox.spec import ContainerSpec, generic_environment
from tests.support.pool import function, wait_for


def spec(runtime_api_address: str = "127.0.0.1:9", **environment: str) -> ContainerSpec:
    return ContainerSpec(image="faas/python3.13:test",
                         environment={**generic_environment(region="us-east-1", runtime_api=runtime_api_address),
                                      **environment},
                         labels={"faas.node": "n"}, memory_mb=128, cpu_shares=72, cpus=0.5, pids_limit=1024,
                         tmp_size_mb=512, shm_size_mb=512, user="993:993", code_dir=None)


class Exits:
    def __init__(self) -> None:
        self.seen: list[Exited] = []

    def __call__(self, exited: Exited) -> None:
        self.seen.append(exited)


async def test_start_gives_each_container_an_id_and_an_address_of_its_own() -> None:
    backend = FakeBackend()
    try:
        first, second = await backend.start(spec()), await backend.start(spec())
        assert first.container_id != second.container_id
        assert first.ip != second.ip and first.ip.startswith("127.")
        assert [c.container_id for c in backend.running()] == [first.container_id, second.container_id]
        assert len(backend.specs) == 2
    finally:
        await backend.close()


async def test_kill_reports_the_exit_as_docker_does_and_a_second_kill_is_harmless() -> None:
    backend, exits = FakeBackend(), Exits()
    backend.watch(exits)
    try:
        started = await backend.start(spec())
        await backend.kill(started.container_id)
        await backend.kill(started.container_id)
        await wait_for(lambda: exits.seen)
        await asyncio.sleep(0.05)
        assert exits.seen == [Exited(started.container_id, KILLED, False)]
        assert backend.running() == [] and backend.kills == [started.container_id] * 2
    finally:
        await backend.close()


async def test_a_crash_is_reported_with_its_exit_status_and_out_of_memory() -> None:
    backend, exits = FakeBackend(), Exits()
    backend.watch(exits)
    try:
        started = await backend.start(spec())
        backend.crash(started.container_id, exit_code=137, oom_killed=True)
        await wait_for(lambda: exits.seen)
        assert exits.seen == [Exited(started.container_id, 137, True)]
    finally:
        await backend.close()


async def test_failing_starts_fail_like_the_engine_and_then_starts_work_again() -> None:
    backend = FakeBackend()
    backend.failing_starts = 1
    try:
        with pytest.raises(ResourceNotReady):
            await backend.start(spec())
        assert (await backend.start(spec())).container_id
        assert len(backend.specs) == 2 and len(backend.running()) == 1
    finally:
        await backend.close()


async def test_memory_can_be_changed_while_running_only() -> None:
    backend = FakeBackend()
    try:
        started = await backend.start(spec())
        await backend.set_memory(started.container_id, 512)
        assert backend.containers[started.container_id].memory_mb == 512
        await backend.kill(started.container_id)
        with pytest.raises(ResourceNotReady):
            await backend.set_memory(started.container_id, 256)
    finally:
        await backend.close()


async def test_only_known_images_exist_and_nothing_is_left_over() -> None:
    backend = FakeBackend(images=("faas/python3.13:test",))
    assert await backend.image_exists("faas/python3.13:test")
    assert not await backend.image_exists("faas/nodejs20.x:test")
    assert await backend.remove_leftovers() == 0
    assert await backend.prepare() == "127.0.0.1"
    await backend.close()


# -- the runtime, over the real Runtime API -------------------------------------------------------------

@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[tuple[Registry, str, Path]]:
    registry = Registry()
    server = runtime_api.serve(registry, (bind("127.0.0.1", 0),), shutdown_timeout=0.1)
    await server.start()
    yield registry, f"127.0.0.1:{server.port}", tmp_path
    await server.stop()


async def start_environment(backend: FakeBackend, runtime: tuple[Registry, str, Path],
                            environment: dict[str, str]) -> Environment:
    """What the pool does for a zip function: start generic, register, hand over the environment."""
    registry, address, directory = runtime
    created_at = time.monotonic()
    output = OutputPipe(directory / "output")
    started = await backend.start(dataclasses.replace(spec(address), output_pipe=str(output.path)))
    env = Environment(started.container_id, started.ip, None, created_at, runtime="python3.13", output=output)
    registry.register(env, created_at)
    env.specialize(function(), environment, prewarmed=False)
    return env


async def invoke(env: Environment, event: object, timeout_s: int = 5) -> tuple[bytes, str | None, str]:
    invocation = Invocation(f"req-{env.invocations + 1}", json.dumps(event).encode(), "arn:fn", timeout_s, 5)
    env.assign(invocation)
    outcome = await invocation.outcome
    env.current = None
    return outcome.body, outcome.error_type, env.take_output()


async def test_the_handler_answers_with_the_environment_it_was_handed(runtime) -> None:
    registry, address, _ = runtime
    seen: list[Context] = []

    def handler(event: dict, context: Context) -> dict:
        seen.append(context)
        context.logs.append(f"hello {event['name']}")
        return {"greeting": f"{context.environment['GREETING']} {event['name']}"}

    backend = FakeBackend(handler)
    try:
        env = await start_environment(backend, runtime, {"GREETING": "hi",
                                                                   "AWS_LAMBDA_FUNCTION_NAME": "fn"})
        assert await invoke(env, {"name": "ada"}) == (b'{"greeting": "hi ada"}', None, "hello ada\n")
        assert await invoke(env, {"name": "bob"}) == (b'{"greeting": "hi bob"}', None, "hello bob\n")
        assert [c.request_id for c in seen] == ["req-1", "req-2"]
        assert seen[0].function_name == "fn" and seen[0].container_id == env.container_id
        assert backend.containers[env.container_id].invocations == 2
    finally:
        await backend.close()


async def test_a_handler_error_is_a_function_error_and_the_runtime_goes_on(runtime) -> None:
    registry, address, _ = runtime

    def handler(event: dict, context: Context) -> dict:
        if event.get("fail"):
            raise ValueError("no good")
        return {"ok": True}

    backend = FakeBackend(handler)
    try:
        env = await start_environment(backend, runtime, {})
        body, error_type, _ = await invoke(env, {"fail": True})
        assert error_type == "ValueError" and json.loads(body)["errorMessage"] == "no good"
        assert await invoke(env, {}) == (b'{"ok": true}', None, "")
    finally:
        await backend.close()


async def test_a_slow_handler_is_awaited(runtime) -> None:
    registry, address, _ = runtime

    async def handler(event: dict, context: Context) -> str:
        await asyncio.sleep(0.2)
        return "late"

    backend = FakeBackend(handler)
    try:
        env = await start_environment(backend, runtime, {})
        began = time.monotonic()
        assert await invoke(env, {}) == (b'"late"', None, "")
        assert time.monotonic() - began >= 0.2
    finally:
        await backend.close()


async def test_container_exit_in_a_handler_stops_the_container_with_its_status(runtime) -> None:
    registry, address, _ = runtime

    def handler(event: dict, context: Context) -> None:
        raise ContainerExit(137, oom_killed=True)

    backend, exits = FakeBackend(handler), Exits()
    backend.watch(exits)
    try:
        env = await start_environment(backend, runtime, {})
        env.assign(Invocation("req", b"{}", "arn:fn", 5, 5))
        await wait_for(lambda: exits.seen)
        assert exits.seen == [Exited(env.container_id, 137, True)]
        assert not backend.containers[env.container_id].running
    finally:
        await backend.close()


async def test_a_runtime_the_runtime_api_refuses_exits(runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    _registry, address, _ = runtime  # the container is never registered: the Runtime API answers 403
    monkeypatch.setattr(registry_module, "REGISTRATION_WAIT_S", 0.05)
    backend, exits = FakeBackend(), Exits()
    backend.watch(exits)
    try:
        started = await backend.start(spec(address))
        await wait_for(lambda: exits.seen)
        assert exits.seen == [Exited(started.container_id, 1, False)]
    finally:
        await backend.close()
