"""A start cancelled while Docker is still creating the container (the pool closing while it prewarms) kills
the container once the thread has started it, so nothing runs on unowned after the node stops. The Docker
client is a fake here; the e2e tests run the real engine."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from faas.sandbox.backend import Started
from faas.sandbox.docker_backend import DockerBackend


class GatedBackend(DockerBackend):
    """DockerBackend whose blocking Docker calls are replaced: `_start` waits for the test's gate."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.killed: list[str] = []
        self.fail = False
        self._threads = ThreadPoolExecutor(4)

    def _start(self, spec) -> Started:  # type: ignore[no-untyped-def]
        self.entered.set()
        assert self.gate.wait(10)
        if self.fail:
            raise RuntimeError("the engine refused")
        return Started(container_id="c-1", ip="172.18.0.2", memory_peak_file=None)

    def _kill(self, container_id: str) -> None:
        self.killed.append(container_id)


async def cancelled_start(backend: GatedBackend) -> None:
    task = asyncio.ensure_future(backend.start(spec=None))  # type: ignore[arg-type]
    await asyncio.to_thread(backend.entered.wait, 10)
    task.cancel()
    await asyncio.sleep(0)  # the cancellation reaches the start while the thread still works
    assert not task.done()  # it waits for the thread rather than leave its container behind
    backend.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_cancelled_start_kills_the_container_its_thread_started() -> None:
    backend = GatedBackend()
    await cancelled_start(backend)
    assert backend.killed == ["c-1"]


async def test_a_cancelled_start_that_started_nothing_kills_nothing() -> None:
    backend = GatedBackend()
    backend.fail = True
    await cancelled_start(backend)
    assert backend.killed == []


async def test_an_uncancelled_start_answers_the_container() -> None:
    backend = GatedBackend()
    backend.gate.set()
    started = await backend.start(spec=None)  # type: ignore[arg-type]
    assert started.container_id == "c-1" and backend.killed == []
