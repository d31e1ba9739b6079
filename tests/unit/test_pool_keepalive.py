"""Keep-alive on the fake backend: idle environments stop after the keep-alive window (scale to zero),
busy ones never do, and a warm one inside the window is kept."""

from __future__ import annotations

import asyncio
from pathlib import Path

from faas.sandbox.fake_backend import Context, FakeBackend
from tests.support.pool import function, harness, wait_for


async def test_an_environment_idle_past_the_window_is_stopped_and_one_inside_it_kept(tmp_path: Path) -> None:
    async with harness(tmp_path, keep_alive_s=60) as h:
        await h.invoke(function())
        assert await h.pool.reaper.reap() == 0  # inside the window
        assert len(h.backend.running()) == 1
        h.pool.reaper.keep_alive_s = 0
        assert await h.pool.reaper.reap() == 1
        assert h.backend.running() == [] and h.pool.describe() == []


async def test_a_busy_environment_is_never_reaped(tmp_path: Path) -> None:
    gate = asyncio.Event()

    async def handler(event: dict, context: Context) -> str:
        await gate.wait()
        return "done"

    async with harness(tmp_path, backend=FakeBackend(handler), keep_alive_s=0) as h:
        call = asyncio.ensure_future(h.invoke(function()))
        await wait_for(lambda: any(c.invocations for c in h.backend.running()))
        assert await h.pool.reaper.reap() == 0
        gate.set()
        assert (await call).body == b'"done"'


async def test_the_reaper_scales_to_zero_on_its_own(tmp_path: Path) -> None:
    async with harness(tmp_path, keep_alive_s=0.05) as h:
        await h.invoke(function())
        await h.invoke(function("other"))
        assert h.pool.reaper.interval_s == 0.25  # never busier than four times a second
        await wait_for(lambda: not h.backend.running(), timeout_s=10)
        assert len(h.backend.kills) == 2
        result = await h.invoke(function())  # and back from zero
        assert result.function_error is None and len(h.backend.specs) == 3
