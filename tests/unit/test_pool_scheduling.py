"""Scheduling on the fake backend: idle environments are reused, one environment starts per waiting
request, a freed environment goes to the longest waiter, and the node's cap makes room."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from faas.errors import ResourceNotReady
from faas.sandbox.fake_backend import Context, FakeBackend
from tests.support.pool import function, harness, wait_for


async def test_an_idle_environment_is_reused(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        fn = function()
        for n in range(3):
            result = await h.invoke(fn, {"n": n})
            assert json.loads(result.body) == {"n": n} and result.function_error is None
        assert len(h.backend.specs) == 1
        await h.recorder.flush()
        assert [record.cold for record in h.records.items] == [True, False, False]


async def test_one_environment_starts_per_concurrent_request_and_all_are_reused(tmp_path: Path) -> None:
    gate = asyncio.Event()

    async def handler(event: dict, context: Context) -> str:
        await gate.wait()
        return context.container_id

    async with harness(tmp_path, backend=FakeBackend(handler)) as h:
        fn = function()
        calls = [asyncio.ensure_future(h.invoke(fn)) for _ in range(3)]
        await wait_for(lambda: sum(c.invocations for c in h.backend.running()) == 3)
        gate.set()
        first = {json.loads((await call).body) for call in calls}
        assert len(first) == 3 and len(h.backend.specs) == 3
        again = await asyncio.gather(*(h.invoke(fn) for _ in range(3)))
        assert {json.loads(result.body) for result in again} == first  # no fourth start
        assert len(h.backend.specs) == 3


async def test_starts_under_way_are_counted_so_a_burst_starts_no_more_than_it_needs(tmp_path: Path) -> None:
    backend = FakeBackend()
    async with harness(tmp_path, backend=backend) as h:
        fn = function()
        busy, _ = await h.pool.acquire(fn)
        backend.start_delay_s = 0.3
        waiters = [asyncio.ensure_future(h.pool.acquire(fn)) for _ in range(2)]
        await wait_for(lambda: len(backend.specs) == 3)  # one start per waiting request
        h.pool.release(busy)  # the first waiter takes it; its start goes on
        assert (await waiters[0])[0] is busy
        third = asyncio.ensure_future(h.pool.acquire(fn))  # two waiting, two starts under way: no third start
        got = {id(env) for env, _ in await asyncio.gather(waiters[1], third)}
        assert len(got) == 2 and id(busy) not in got
        assert len(backend.specs) == 3


async def test_a_freed_environment_goes_to_the_longest_waiter(tmp_path: Path) -> None:
    backend = FakeBackend()
    async with harness(tmp_path, backend=backend) as h:
        fn = function()
        env, cold = await h.pool.acquire(fn)
        assert cold
        backend.start_delay_s = 30  # the starts for the waiters below do not finish within the test
        order: list[str] = []

        async def wait(name: str) -> None:
            got, _ = await h.pool.acquire(fn)
            order.append(name)
            assert got is env
            h.pool.release(got)

        first = asyncio.ensure_future(wait("first"))
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(wait("second"))
        await asyncio.sleep(0.01)
        h.pool.release(env)
        await asyncio.wait_for(asyncio.gather(first, second), 5)
        assert order == ["first", "second"]


async def test_a_failed_start_fails_only_one_waiter(tmp_path: Path) -> None:
    backend = FakeBackend()
    backend.failing_starts = 1
    async with harness(tmp_path, backend=backend) as h:
        fn = function()
        results = await asyncio.gather(h.invoke(fn, {"n": 1}), h.invoke(fn, {"n": 2}), return_exceptions=True)
        failed = [r for r in results if isinstance(r, ResourceNotReady)]
        answered = [json.loads(r.body) for r in results if not isinstance(r, BaseException)]
        assert len(failed) == 1 and len(answered) == 1
        assert json.loads((await h.invoke(fn, {"n": 3})).body) == {"n": 3}
        assert len(backend.specs) == 2


async def test_a_changed_function_gets_new_environments_and_the_old_ones_stop(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        old = function()
        await h.invoke(old)
        (old_container,) = h.backend.running()
        h.pool.retire(old.name)  # as the function service does when the configuration changes
        await wait_for(lambda: not old_container.running)
        new = function(revision_id="r2", environment={"GREETING": "hello"})
        await h.invoke(new)
        assert len(h.backend.specs) == 2 and len(h.backend.running()) == 1


async def test_a_busy_environment_of_an_old_revision_stops_when_released(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        old, new = function(), function(revision_id="r2")
        env, _ = await h.pool.acquire(old)
        await h.invoke(new)  # new invocations now use r2
        h.pool.release(env)
        await wait_for(lambda: env.container_id in h.backend.kills)
        assert len(h.backend.running()) == 1


async def test_at_the_node_cap_the_longest_idle_environment_makes_room(tmp_path: Path) -> None:
    async with harness(tmp_path, max_environments=2) as h:
        a, b, c = function("a"), function("b"), function("c")
        await h.invoke(a)
        await h.invoke(b)
        (container_a, container_b) = h.backend.running()
        await h.invoke(c)
        assert not container_a.running and container_b.running
        assert len(h.backend.running()) == 2


async def test_describe_shows_each_environment_and_its_state(tmp_path: Path) -> None:
    async with harness(tmp_path) as h:
        fn = function()
        await h.invoke(fn)
        busy, _ = await h.pool.acquire(function("other"))
        rows = {row["FunctionName"]: row for row in h.pool.describe()}
        assert rows["fn"]["State"] == "idle" and rows["fn"]["Invocations"] == 1
        assert rows["other"]["State"] == "starting"  # taken, but not yet given an invocation
        assert rows["fn"]["RevisionId"] == "r1" and rows["fn"]["Runtime"] == "python3.13"
        assert rows["fn"]["Prewarmed"] is False
        h.pool.release(busy)
