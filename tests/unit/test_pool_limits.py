"""Limits on the fake backend: reserved concurrency and the node-wide limit refuse with Lambda's 429
reasons before any environment starts, and a refused invocation leaves the others running."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from faas.errors import TooManyRequests
from faas.sandbox.fake_backend import Context, FakeBackend
from tests.support.pool import function, harness, wait_for


def held() -> tuple[asyncio.Event, FakeBackend]:
    gate = asyncio.Event()

    async def handler(event: dict, context: Context) -> dict:
        await gate.wait()
        return event

    return gate, FakeBackend(handler)


async def test_reserved_concurrency_refuses_the_invocation_past_it(tmp_path: Path) -> None:
    gate, backend = held()
    async with harness(tmp_path, backend=backend, node_limit=10) as h:
        fn = function()
        h.limiter.set_reserved(fn.name, 1)
        running = asyncio.ensure_future(h.invoke(fn, {"n": 1}))
        await wait_for(lambda: any(c.invocations for c in backend.running()))
        with pytest.raises(TooManyRequests) as refused:
            await h.invoke(fn, {"n": 2})
        assert refused.value.fields == {"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"}
        assert len(backend.specs) == 1  # refused before any start
        gate.set()
        assert json.loads((await running).body) == {"n": 1}
        assert json.loads((await h.invoke(fn, {"n": 3})).body) == {"n": 3}  # the slot is back


async def test_the_node_limit_refuses_unreserved_invocations_past_it(tmp_path: Path) -> None:
    gate, backend = held()
    async with harness(tmp_path, backend=backend, node_limit=2) as h:
        running = [asyncio.ensure_future(h.invoke(function(name))) for name in ("a", "b")]
        await wait_for(lambda: sum(c.invocations for c in backend.running()) == 2)
        with pytest.raises(TooManyRequests) as refused:
            await h.invoke(function("c"))
        assert refused.value.fields == {"Reason": "ConcurrentInvocationLimitExceeded"}
        assert len(backend.specs) == 2
        gate.set()
        await asyncio.gather(*running)
        assert h.limiter.in_flight() == 0


async def test_a_reservation_is_kept_for_its_function_when_others_fill_the_node(tmp_path: Path) -> None:
    gate, backend = held()
    async with harness(tmp_path, backend=backend, node_limit=10) as h:
        reserved = function("reserved")
        h.limiter.set_reserved(reserved.name, 2)  # the other functions share the remaining 8
        others = [asyncio.ensure_future(h.invoke(function(f"other{n}"))) for n in range(8)]
        await wait_for(lambda: sum(c.invocations for c in backend.running()) == 8)
        with pytest.raises(TooManyRequests):
            await h.invoke(function("one-too-many"))
        mine = asyncio.ensure_future(h.invoke(reserved, {"mine": True}))
        await wait_for(lambda: sum(c.invocations for c in backend.running()) == 9)
        gate.set()
        assert json.loads((await mine).body) == {"mine": True}
        await asyncio.gather(*others)
