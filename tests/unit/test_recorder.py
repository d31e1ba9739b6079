"""The recorder's flush: a reader that flushes before reading finds written what was added before it asked,
even when the background flush had already taken those records and was still writing them."""

from __future__ import annotations

import asyncio

from faas.dispatch.recorder import Recorder


class SlowStore:
    """add_many waits until released: a write the background flush has started and not finished."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def add_many(self, items: list[str]) -> None:
        self.started.set()
        await self.release.wait()
        self.written.extend(items)


async def test_a_flush_waits_for_the_one_under_way():
    store = SlowStore()
    recorder = Recorder(store, flush_interval_s=3600)
    recorder.add("first")
    background = asyncio.create_task(recorder.flush())  # takes "first", then waits in add_many
    await store.started.wait()
    reader = asyncio.create_task(recorder.flush())  # nothing pending: without the wait it returned at once
    await asyncio.sleep(0)
    assert not reader.done()
    store.release.set()
    await asyncio.gather(background, reader)
    assert store.written == ["first"]


async def test_what_is_added_meanwhile_is_written_by_the_waiting_flush():
    store = SlowStore()
    recorder = Recorder(store, flush_interval_s=3600)
    recorder.add("first")
    background = asyncio.create_task(recorder.flush())
    await store.started.wait()
    recorder.add("second")
    reader = asyncio.create_task(recorder.flush())
    store.release.set()
    await asyncio.gather(background, reader)
    assert store.written == ["first", "second"]
