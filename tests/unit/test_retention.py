"""faas.services.retention: old rows are pruned in bounded batches, per rule, on a timer."""

from __future__ import annotations

import asyncio
import datetime as dt

from faas.services.retention import Pruner, Rule

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone.utc)


class FakeTable:
    def __init__(self, ages_days: list[float]) -> None:
        self.rows = [NOW - dt.timedelta(days=age, microseconds=n) for n, age in enumerate(ages_days)]
        self.calls: list[tuple[dt.datetime, int]] = []

    async def prune_before(self, cutoff: dt.datetime, limit: int) -> int:
        self.calls.append((cutoff, limit))
        old = sorted(row for row in self.rows if row < cutoff)[:limit]
        self.rows = [row for row in self.rows if row not in old]
        return len(old)


async def test_rows_older_than_the_rule_go_in_batches_and_newer_ones_stay():
    table = FakeTable([0.5] * 3 + [31.0] * 25)
    pruner = Pruner([Rule("invocation records", table, 30)], batch=10, pause_s=0)
    assert await pruner.prune(NOW) == {"invocation records": 25}
    assert len(table.rows) == 3
    # Three full batches and a last one that found less than a batch: never one unbounded delete.
    assert [limit for _, limit in table.calls] == [10, 10, 10]
    assert {cutoff for cutoff, _ in table.calls} == {NOW - dt.timedelta(days=30)}


async def test_fractions_of_a_day_and_zero_for_forever():
    kept, pruned = FakeTable([0.001, 0.2]), FakeTable([0.001, 0.2])
    pruner = Pruner([Rule("audit entries", kept, 0), Rule("invocation records", pruned, 0.1)], pause_s=0)
    assert await pruner.prune(NOW) == {"invocation records": 1}
    assert len(kept.rows) == 2 and kept.calls == []
    assert len(pruned.rows) == 1


async def test_the_task_prunes_at_start_and_then_on_its_interval_until_closed():
    table = FakeTable([40.0])
    pruner = Pruner([Rule("invocation records", table, 30)], interval_s=0.01, pause_s=0)
    await pruner.start()
    deadline = asyncio.get_running_loop().time() + 5
    while len(table.calls) < 3:
        assert asyncio.get_running_loop().time() < deadline, "the pruner never ran again"
        await asyncio.sleep(0.01)
    await pruner.stop()
    calls = len(table.calls)
    await asyncio.sleep(0.05)
    assert table.rows == [] and len(table.calls) == calls


async def test_a_failing_store_does_not_stop_the_task(caplog):
    class Failing(FakeTable):
        async def prune_before(self, cutoff, limit):  # type: ignore[no-untyped-def]
            self.calls.append((cutoff, limit))
            raise OSError("database is locked")

    table = Failing([])
    pruner = Pruner([Rule("audit entries", table, 1)], interval_s=0.01)
    await pruner.start()
    deadline = asyncio.get_running_loop().time() + 5
    while len(table.calls) < 2:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
    await pruner.stop()
    assert "pruning old records failed" in caplog.text


async def test_nothing_to_keep_for_means_no_task():
    pruner = Pruner([Rule("audit entries", FakeTable([]), 0)])
    await pruner.start()
    await pruner.stop()
