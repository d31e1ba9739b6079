"""Start slots: at most N container starts at once, requests' starts before the prewarmed pool's refills, and a
queued start whose request was served meanwhile is not made."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from faas.sandbox.fake_backend import Context, FakeBackend
from faas.sandbox.start_slots import StartSlots
from tests.support.pool import function, harness


async def test_slots_admit_n_at_once_and_urgent_waiters_first() -> None:
    slots = StartSlots(1)
    order: list[str] = []
    release = asyncio.Event()

    async def hold(name: str, urgent: bool) -> None:
        async with slots.slot(urgent=urgent):
            order.append(name)
            await release.wait()

    first = asyncio.ensure_future(hold("first", False))
    await asyncio.sleep(0)
    later = asyncio.ensure_future(hold("refill", False))
    urgent = asyncio.ensure_future(hold("request", True))
    await asyncio.sleep(0)
    assert order == ["first"] and slots.waiting == 2
    release.set()
    await asyncio.gather(first, later, urgent)
    assert order == ["first", "request", "refill"]


async def test_a_cancelled_waiter_gives_up_its_turn() -> None:
    slots = StartSlots(1)
    async with slots.slot(urgent=True):
        waiter = asyncio.ensure_future(slots.slot(urgent=True).__aenter__())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    async with slots.slot(urgent=False):  # the slot came back
        assert slots.waiting == 0


def slow(event: dict, context: Context) -> object:
    async def answer() -> dict:
        await asyncio.sleep(0.3)
        return {"container": context.container_id}
    return answer()


async def test_a_burst_starts_two_at_a_time_and_skips_starts_no_request_needs(tmp_path: Path) -> None:
    backend = FakeBackend(slow, start_delay_s=0.2)
    in_flight = most = 0
    start = backend.start

    async def counting_start(spec):  # type: ignore[no-untyped-def]
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            return await start(spec)
        finally:
            in_flight -= 1

    backend.start = counting_start  # type: ignore[method-assign]
    async with harness(tmp_path, backend=backend, parallel_starts=2, node_limit=50) as h:
        results = await asyncio.gather(*(h.invoke(function()) for _ in range(12)))
        containers = {json.loads(r.body)["container"] for r in results}
        assert most == 2
        # Starts take 0.2 s two at a time and each request holds its environment 0.3 s: environments freed
        # meanwhile serve the later requests, and the starts queued for those are never made (a start that
        # went ahead for a waiting request may still finish after a freed environment served it).
        assert len(containers) <= len(backend.specs) <= 8
