"""How long a work source sleeps between looks at the store (faas.sources.pace)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest

from faas.model import utcnow
from faas.sources import pace
from faas.sources.pace import IDLE_S, POLL_S, Pace


class Work:
    def __init__(self, due: dt.datetime | None = None, fails: bool = False) -> None:
        self.due = due
        self.fails = fails
        self.asked = 0

    async def next_due(self, kind: str) -> dt.datetime | None:
        self.asked += 1
        if self.fails:
            raise OSError("the store is away")
        return self.due


def in_s(seconds: float) -> dt.datetime:
    return utcnow() + dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("due, expected", [
    (None, IDLE_S),  # nothing queued: only the safety net
    (3.0, 3.0),  # a retry due in 3 s
    (-5.0, POLL_S),  # due already but not taken (the source is full): looked for again soon, not in a spin
    (0.1, POLL_S),
    (3600.0, IDLE_S),
])
async def test_a_drained_source_on_its_own_store_sleeps_until_its_next_item_falls_due(due, expected):
    work = Work(in_s(due) if due is not None else None)
    timeout = await Pace(work, "async", shared=False)._until_due()  # type: ignore[arg-type]
    assert timeout == pytest.approx(expected, abs=0.05)


async def test_a_store_error_falls_back_to_polling(caplog):
    assert await Pace(Work(fails=True), "async", shared=False)._until_due() == POLL_S  # type: ignore[arg-type]
    assert "next async work" in caplog.text


async def test_a_shared_store_is_polled_and_never_asked_when_its_next_item_is_due(monkeypatch):
    monkeypatch.setattr(pace, "POLL_S", 0.05)
    work = Work(in_s(60))
    waiting = Pace(work, "async", shared=True)  # type: ignore[arg-type]
    started = time.monotonic()
    await waiting.wait(drained=True)
    assert time.monotonic() - started < 1 and work.asked == 0


async def test_a_source_that_is_not_drained_looks_again_after_a_poll_without_asking(monkeypatch):
    monkeypatch.setattr(pace, "POLL_S", 0.05)
    work = Work(in_s(60))
    await Pace(work, "async", shared=False).wait(drained=False)  # type: ignore[arg-type]
    assert work.asked == 0


async def test_a_wake_ends_the_sleep_at_once_and_is_consumed():
    waiting = Pace(Work(), "async", shared=False)  # type: ignore[arg-type]
    task = asyncio.create_task(waiting.wait(drained=True))  # would sleep IDLE_S
    await asyncio.sleep(0)
    started = time.monotonic()
    waiting.wake.set()
    await asyncio.wait_for(task, 5)
    assert time.monotonic() - started < 1
    assert not waiting.wake.is_set()
