"""The prewarmed pool on the fake backend: generic environments are started per runtime, handed to the
first fitting zip function (code, memory and environment set on hand-over), refilled, and replaced
when one dies before it is used; it grows to the bursts it saw, within its budget, and shrinks back."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from faas.errors import ResourceNotReady
from faas.sandbox.fake_backend import Context, FakeBackend
from faas.sandbox import prewarm
from faas.sandbox.prewarm import Demand
from faas.sandbox.spec import PREWARM_MEMORY_MB
from tests.support.pool import function, harness, wait_for


def reports(event: dict, context: Context) -> dict:
    return {"container": context.container_id, "greeting": context.environment.get("GREETING"),
            "name": context.function_name}


def prewarmed(backend: FakeBackend) -> list:
    return [c for c in backend.running() if "faas.prewarmed" in c.spec.labels and c.invocations == 0]


async def test_a_prewarmed_environment_is_handed_over_and_the_pool_refilled(tmp_path: Path) -> None:
    backend = FakeBackend(reports)
    async with harness(tmp_path, backend=backend, prewarm=1) as h:
        (generic,) = await wait_for(lambda: prewarmed(backend))
        assert generic.spec.labels == {"faas.node": "test-node", "faas.prewarmed": "python3.13"}
        assert "GREETING" not in generic.spec.environment  # nothing of a function before hand-over
        assert h.pool.describe()[0]["State"] == "prewarmed"

        fn = function(memory_size=256)
        result = await h.invoke(fn)
        assert json.loads(result.body) == {"container": generic.container_id, "greeting": "hi", "name": "fn"}
        assert generic.memory_mb == 256  # raised from PREWARM_MEMORY_MB on hand-over
        assert (tmp_path / "code" / fn.code_sha256 / "handler.py").exists()
        await h.recorder.flush()
        assert h.records.items[0].cold and h.records.items[0].init_duration_ms is not None

        # Another generic one takes its place, and one of the function's size is kept for the next such start.
        await wait_for(lambda: len(prewarmed(backend)) == 2)
        assert sorted(c.memory_mb for c in prewarmed(backend)) == [PREWARM_MEMORY_MB, 256]
        assert generic not in prewarmed(backend)
        assert len(backend.specs) == 3  # no cold start of the function's own
        row = next(row for row in h.pool.describe() if row["ContainerId"] == generic.container_id)
        assert row["Prewarmed"] is True and row["FunctionName"] == "fn" and row["State"] == "idle"


async def test_a_function_whose_tmp_differs_starts_cold_and_leaves_the_prewarmed_one(tmp_path: Path) -> None:
    backend = FakeBackend(reports)
    async with harness(tmp_path, backend=backend, prewarm=1) as h:
        (generic,) = await wait_for(lambda: prewarmed(backend))
        result = await h.invoke(function(ephemeral_storage=1024))
        assert json.loads(result.body)["container"] != generic.container_id
        assert backend.specs[-1].tmp_size_mb == 1024 and backend.specs[-1].labels["faas.function"] == "fn"
        assert prewarmed(backend) == [generic]


async def test_a_prewarmed_environment_that_dies_is_replaced(tmp_path: Path) -> None:
    backend = FakeBackend(reports)
    async with harness(tmp_path, backend=backend, prewarm=1) as h:
        h.pool.prewarm.retry_s = 0.01  # slowly in production, so a runtime that cannot start does not spin
        (generic,) = await wait_for(lambda: prewarmed(backend))
        backend.crash(generic.container_id)
        (replacement,) = await wait_for(lambda: prewarmed(backend))
        assert replacement is not generic


async def test_a_failed_hand_over_stops_the_generic_environment_and_fails_the_invocation(tmp_path: Path) -> None:
    backend = FakeBackend(reports)
    async with harness(tmp_path, backend=backend, prewarm=1) as h:
        (generic,) = await wait_for(lambda: prewarmed(backend))

        async def cannot_resize(container_id: str, memory_mb: int) -> None:
            raise ResourceNotReady("The execution environment could not be resized")

        backend.set_memory = cannot_resize  # type: ignore[method-assign]
        with pytest.raises(ResourceNotReady):
            await h.invoke(function(memory_size=512))
        assert generic.container_id in backend.kills and not generic.running
        (refill,) = await wait_for(lambda: [c for c in prewarmed(backend) if c.memory_mb == PREWARM_MEMORY_MB])
        result = await h.invoke(function())  # 128 MB: no resize needed
        assert json.loads(result.body)["container"] == refill.container_id


async def test_provided_al2_functions_take_from_the_provided_al2023_pool(tmp_path: Path) -> None:
    backend = FakeBackend(reports)
    one_image = {"provided.al2023": "faas/provided.al2023:test", "provided.al2": "faas/provided.al2023:test"}
    async with harness(tmp_path, backend=backend, prewarm=1, images=one_image) as h:
        (generic,) = await wait_for(lambda: prewarmed(backend))
        assert generic.spec.labels["faas.prewarmed"] == "provided.al2023"  # one pool for the one image

        result = await h.invoke(function(runtime="provided.al2", handler="anything"))
        assert json.loads(result.body)["container"] == generic.container_id
        row = next(row for row in h.pool.describe() if row["ContainerId"] == generic.container_id)
        assert row["Runtime"] == "provided.al2" and row["Prewarmed"] is True
        (refill,) = await wait_for(lambda: prewarmed(backend))
        assert refill.spec.labels["faas.prewarmed"] == "provided.al2023"


def test_demand_is_the_largest_burst_of_the_window() -> None:
    demand = Demand()
    assert demand.peak(0) == 0
    for t in (0, 1, 2, 30, 31, 50):  # three asks within BURST_S, then two, then one
        demand.ask(t)
    assert demand.peak(60) == 3
    assert demand.peak(prewarm.DEMAND_WINDOW_S + 5) == 2  # the first burst is forgotten
    assert demand.peak(prewarm.DEMAND_WINDOW_S + 100) == 0


async def burst(h, fn, size: int) -> list:  # type: ignore[no-untyped-def]
    return await asyncio.gather(*(h.invoke(fn) for _ in range(size)))


def slow(event: dict, context: Context) -> object:
    async def answer() -> dict:
        await asyncio.sleep(0.2)  # long enough that the burst needs one environment per request
        return {"container": context.container_id}
    return answer()


async def test_the_pool_grows_to_the_burst_it_saw_without_slowing_the_burst(tmp_path: Path) -> None:
    backend = FakeBackend(slow, start_delay_s=0.05)
    async with harness(tmp_path, backend=backend, prewarm=1, node_limit=50, parallel_starts=8) as h:
        now = [1000.0]
        h.pool.prewarm._clock = lambda: now[0]
        await wait_for(lambda: len(prewarmed(backend)) == 1)
        starts_before = len(backend.specs)
        results = await burst(h, function("first"), 8)
        # One environment per request: the prewarmed one and seven cold starts, every refill after them.
        assert len({json.loads(r.body)["container"] for r in results}) == 8
        kinds = ["generic" if "faas.prewarmed" in spec.labels else "own" for spec in backend.specs[starts_before:]]
        assert kinds[:7] == ["own"] * 7 and set(kinds[7:]) <= {"generic"}
        # Then the pool refills to the burst's size, a few starts at a time.
        await wait_for(lambda: len(prewarmed(backend)) == 8)
        assert h.pool.prewarm.targets() == {("python3.13", PREWARM_MEMORY_MB): 8}

        # The next never-invoked function's burst, a while later, is served by prewarmed environments only.
        now[0] += prewarm.BURST_S + 1
        starts_before = len(backend.specs)
        generic = {c.container_id for c in prewarmed(backend)}
        results = await burst(h, function("second"), 8)
        assert {json.loads(r.body)["container"] for r in results} == generic
        await wait_for(lambda: len(prewarmed(backend)) == 8)
        assert len(backend.specs) == starts_before + 8  # refills only


async def test_growth_stays_within_the_budget_and_the_node_cap(tmp_path: Path) -> None:
    backend = FakeBackend(slow)
    async with harness(tmp_path, backend=backend, prewarm=1, prewarm_budget_mb=4 * PREWARM_MEMORY_MB,
                       node_limit=12) as h:
        await wait_for(lambda: len(prewarmed(backend)) == 1)
        await burst(h, function(), 8)
        await wait_for(lambda: len(prewarmed(backend)) == 4)  # the budget holds four
        await asyncio.sleep(0.1)
        assert len(prewarmed(backend)) == 4 and len(h.pool.registry) == 12  # 8 warm + 4 prewarmed, the cap


async def test_a_shape_whose_demand_passed_shrinks_back_to_the_floor(tmp_path: Path) -> None:
    backend = FakeBackend(slow)
    async with harness(tmp_path, backend=backend, prewarm=1) as h:
        now = [1000.0]
        h.pool.prewarm._clock = lambda: now[0]
        await burst(h, function(memory_size=512), 3)
        await wait_for(lambda: sorted(c.memory_mb for c in prewarmed(backend)) == [PREWARM_MEMORY_MB] + [512] * 3)
        # A function of that size takes one of its own size: no resize on hand-over.
        resized: list[str] = []

        async def set_memory(container_id: str, memory_mb: int) -> None:
            resized.append(container_id)

        backend.set_memory = set_memory  # type: ignore[method-assign]
        await h.invoke(function("other", memory_size=512))
        assert not resized
        await wait_for(lambda: sorted(c.memory_mb for c in prewarmed(backend)) == [PREWARM_MEMORY_MB] + [512] * 4)
        now[0] += prewarm.DEMAND_WINDOW_S + 1
        stopped = h.pool.prewarm.trim()
        assert sorted(env.memory_mb for env in stopped) == [512] * 4
        await wait_for(lambda: [c.memory_mb for c in prewarmed(backend)] == [PREWARM_MEMORY_MB])


async def test_a_floor_of_zero_keeps_nothing_prewarmed_whatever_the_demand(tmp_path: Path) -> None:
    backend = FakeBackend(slow)
    async with harness(tmp_path, backend=backend, prewarm=0) as h:
        await burst(h, function(), 4)
        await asyncio.sleep(0.1)
        assert not prewarmed(backend) and h.pool.prewarm.targets() == {}
