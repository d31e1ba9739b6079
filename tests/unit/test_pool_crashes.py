"""Crashes on the fake backend: an environment that exits mid-invocation answers Lambda's
Runtime.ExitError and is replaced; one that dies idle is never handed work; a function error keeps the
environment; a timeout stops it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from faas.sandbox.fake_backend import Context, ContainerExit, FakeBackend
from tests.support.pool import function, harness, wait_for


def crashing(event: dict, context: Context) -> dict:
    if event.get("exit") is not None:
        raise ContainerExit(event["exit"], oom_killed=event.get("oom", False))
    if event.get("raise"):
        raise RuntimeError("the function failed")
    return {"container": context.container_id}


async def test_an_exit_mid_invocation_is_an_exit_error_and_the_environment_is_replaced(tmp_path: Path) -> None:
    backend = FakeBackend(crashing)
    async with harness(tmp_path, backend=backend) as h:
        fn = function()
        first = json.loads((await h.invoke(fn)).body)["container"]
        result = await h.invoke(fn, {"exit": 2})
        body = json.loads(result.body)
        assert result.function_error == "Unhandled" and body["errorType"] == "Runtime.ExitError"
        assert body["errorMessage"] == (f"RequestId: {result.request_id} Error: Runtime exited with error: "
                                        "exit status 2")
        assert f"{body['errorMessage']}\nRuntime.ExitError\n" in result.log
        second = json.loads((await h.invoke(fn)).body)["container"]
        assert second != first and len(backend.specs) == 2
        assert [row["ContainerId"] for row in h.pool.describe()] == [second]


async def test_out_of_memory_says_so_and_names_the_memory_size(tmp_path: Path) -> None:
    async with harness(tmp_path, backend=FakeBackend(crashing)) as h:
        result = await h.invoke(function(memory_size=256), {"exit": 137, "oom": True})
        message = json.loads(result.body)["errorMessage"]
        assert "Runtime exited with error: signal: killed (out of memory: the function needs more than 256 MB" \
            in message


async def test_an_environment_that_dies_idle_is_not_handed_work(tmp_path: Path) -> None:
    backend = FakeBackend(crashing)
    async with harness(tmp_path, backend=backend) as h:
        fn = function()
        first = json.loads((await h.invoke(fn)).body)["container"]
        backend.crash(first)
        await wait_for(lambda: not h.pool.describe())
        assert json.loads((await h.invoke(fn)).body)["container"] != first


async def test_a_function_error_keeps_the_environment(tmp_path: Path) -> None:
    backend = FakeBackend(crashing)
    async with harness(tmp_path, backend=backend) as h:
        fn = function()
        failed = await h.invoke(fn, {"raise": True})
        assert failed.function_error == "Unhandled"
        assert json.loads(failed.body) == {"errorMessage": "the function failed", "errorType": "RuntimeError",
                                           "stackTrace": []}
        await h.invoke(fn)
        assert len(backend.specs) == 1


async def test_a_timeout_stops_the_environment_and_the_next_invocation_gets_a_new_one(tmp_path: Path) -> None:
    async def sleepy(event: dict, context: Context) -> dict:
        await asyncio.sleep(event.get("sleep", 0))
        return {"container": context.container_id}

    backend = FakeBackend(sleepy)
    async with harness(tmp_path, backend=backend) as h:
        fn = function(timeout=1)
        first = json.loads((await h.invoke(fn)).body)["container"]
        result = await h.invoke(fn, {"sleep": 30})
        assert json.loads(result.body)["errorType"] == "Sandbox.Timedout"
        assert "Task timed out after 1.00 seconds" in json.loads(result.body)["errorMessage"]
        assert first in backend.kills
        assert json.loads((await h.invoke(fn)).body)["container"] != first


async def test_what_a_crashing_invocation_printed_stays_in_its_log(tmp_path: Path) -> None:
    def talkative(event: dict, context: Context) -> dict:
        context.logs.append(f"working on {event['n']}")
        if event.get("exit"):
            raise ContainerExit(1)
        return {}

    async with harness(tmp_path, backend=FakeBackend(talkative)) as h:
        fn = function()
        first = await h.invoke(fn, {"n": 1})
        assert "\nworking on 1\nEND RequestId" in first.log
        crashed = await h.invoke(fn, {"n": 2, "exit": True})
        assert crashed.function_error == "Unhandled"
        assert "\nworking on 2\nRequestId: " in crashed.log and "working on 1" not in crashed.log
        after = await h.invoke(fn, {"n": 3})  # a new environment, its own output only
        assert "working on 3" in after.log and "working on 2" not in after.log
