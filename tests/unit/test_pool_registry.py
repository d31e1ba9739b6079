"""The registry the Runtime API trusts: a request belongs to the environment at its address only if
that environment was created before the request arrived (Docker reuses a dead container's address)."""

from __future__ import annotations

import asyncio
import time

import pytest

from faas.sandbox import registry as registry_module
from faas.sandbox.environment import Environment
from faas.sandbox.registry import Registry


def environment(container_id: str, ip: str = "172.30.0.2") -> Environment:
    return Environment(container_id, ip, None, time.monotonic(), runtime="python3.13")


async def test_a_registered_environment_is_found_by_address_and_id() -> None:
    registry, env = Registry(), environment("a")
    registry.register(env, time.monotonic())
    assert await registry.environment_at(env.ip) is env
    assert registry.get("a") is env and list(registry) == [env] and len(registry) == 1


async def test_a_request_waits_for_the_registration_of_a_container_created_before_it() -> None:
    registry, env = Registry(), environment("a")
    created_at = time.monotonic()  # the container is being created ...
    asking = asyncio.ensure_future(registry.environment_at(env.ip))  # ... its runtime asks already
    await asyncio.sleep(0.01)
    registry.register(env, created_at)
    assert await asking is env


async def test_a_request_from_before_a_container_was_created_is_not_given_it() -> None:
    registry, old, new = Registry(), environment("old"), environment("new")
    registry.register(old, time.monotonic())
    registry.forget(old)
    asking = asyncio.ensure_future(registry.environment_at(old.ip))  # the dead container's last request
    await asyncio.sleep(0.01)
    registry.register(new, time.monotonic())  # Docker gave its address to a new container
    assert await asking is None
    assert await registry.environment_at(new.ip) is new


async def test_forgetting_a_dead_environment_keeps_the_newer_one_at_its_address() -> None:
    registry, old, new = Registry(), environment("old"), environment("new")
    registry.register(old, time.monotonic())
    registry.register(new, time.monotonic())
    registry.forget(old)
    assert await registry.environment_at(new.ip) is new and registry.get("old") is None


async def test_an_unknown_address_is_refused_after_the_registration_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "REGISTRATION_WAIT_S", 0.05)
    assert await Registry().environment_at("172.30.0.9") is None
