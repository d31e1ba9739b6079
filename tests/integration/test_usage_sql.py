"""Usage rollups and budgets on SQLite and PostgreSQL: the meter's writes add up (two nodes at once too),
a month is read from its rollups, budgets hold across nodes, and the report prices the month."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import pytest
from sqlalchemy import insert

from faas.billing import Metering, Prices
from faas.dispatch.usage import UsageMeter
from faas.errors import TooManyRequests
from faas.model import Function, InvocationRecord
from faas.services.usage import UsageService
from faas.store.tables import functions
from faas.store.functions import FunctionStore
from faas.store.usage import Budget, Usage, UsageStore

from tests.integration.conftest import Clock

OWNER = "arn:aws:iam::000000000000:user/dev"


def function(name: str, owner: str | None = OWNER, memory: int = 1024) -> Function:
    return Function(name=name, runtime="python3.13", handler="app.handler", role="r", description="",
                    memory_size=memory, timeout=3, ephemeral_storage=512, environment={}, package_type="Zip",
                    code_sha256=None, code_size=0, image_uri=None, image_config={}, revision_id="x",
                    last_modified=dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc), owner=owner)


def record(fn: Function, at: dt.datetime, billed_ms: int = 1000, outcome: str = "success",
           cold: bool = False) -> InvocationRecord:
    return InvocationRecord(request_id="r", function_name=fn.name, started_at=at, duration_ms=billed_ms - 0.5,
                            billed_duration_ms=billed_ms, memory_size=fn.memory_size, max_memory_used_mb=30,
                            init_duration_ms=None, cold=cold, outcome=outcome, error_type=None, log="")


def meter(engine, clock: Clock) -> UsageMeter:  # type: ignore[no-untyped-def]
    return UsageMeter(UsageStore(engine), Prices(), now=clock)


def service(engine, node: UsageMeter, known: set[str] = frozenset({OWNER})) -> UsageService:  # type: ignore[no-untyped-def]
    async def exists(name: str) -> bool:
        return False

    async def known_owner(arn: str) -> bool:
        return arn in known

    return UsageService(UsageStore(engine), node, Metering(), Prices(free_requests=2, free_gb_seconds=1.0),
                        function_exists=exists, known_owner=known_owner)


async def test_two_nodes_add_up_and_a_month_reads_its_rollups(engine, clock: Clock) -> None:
    a, b = meter(engine, clock), meter(engine, clock)
    fn, legacy = function("hello"), function("old", owner=None, memory=512)
    for _ in range(50):
        a.invoked(fn, record(fn, clock.now))
        b.invoked(fn, record(fn, clock.now, outcome="error", cold=True))
    b.invoked(legacy, record(legacy, clock.now, billed_ms=100))
    b.throttled(legacy)
    a.invoked(fn, record(fn, clock.now - dt.timedelta(days=1)))  # November: another month
    await asyncio.gather(*(node.flush() for node in (a, b, a, b)))  # at once, and again with nothing new

    month = await UsageStore(engine).month("2026-12")
    assert [(name, owner) for name, owner, _ in month] == [("hello", OWNER), ("old", "unknown")]
    hello, old = month[0][2], month[1][2]
    assert dataclasses.astuple(hello) == dataclasses.astuple(Usage(
        requests=100, errors=50, throttles=0, cold_starts=50, duration_ms=pytest.approx(99_950.0),  # type: ignore[arg-type]
        billed_ms=100_000, mb_ms=1024 * 100_000))
    assert hello.gb_seconds == 100.0
    assert (old.requests, old.throttles, old.gb_seconds) == (1, 1, 0.05)
    assert [row[0] for row in await UsageStore(engine).month("2026-11")] == ["hello"]

    report = await service(engine, a).report("2026-12", "owner")
    assert [(r["Owner"], r["Functions"], r["Requests"]) for r in report["Rows"]] == [(OWNER, 1, 100), ("unknown", 1, 1)]
    total = report["Total"]
    assert (total["Requests"], total["GBSeconds"], total["FreeRequests"], total["FreeGBSeconds"]) == (101, 100.05, 2, 1.0)
    assert total["Due"] == pytest.approx(99 * 0.2 / 1e6 + 99.05 * 0.0000166667)
    assert total["Cost"] == pytest.approx(101 * 0.2 / 1e6 + 100.05 * 0.0000166667)


async def test_a_budget_holds_across_nodes_and_applies_once_set(engine, clock: Clock) -> None:
    a, b = meter(engine, clock), meter(engine, clock)
    await a.start()
    await b.start()
    try:
        fn = function("hello")  # 1 GB: 1 GB-second per invocation of 1000 ms
        await service(engine, a).put_budget({"Owner": OWNER, "GBSeconds": 3})
        for node in (a, b, a):
            node.admit(fn)
            node.invoked(fn, record(fn, clock.now))
        a.admit(fn)  # a knows of 2 GB-seconds: its own, not yet b's
        await b.flush()
        await a.flush()  # now a reads b's too: 3 of 3
        with pytest.raises(TooManyRequests) as refused:
            a.admit(fn)
        assert refused.value.fields == {"Reason": "OwnerBudgetExceeded"}
        a.throttled(fn)
        b.admit(fn)  # b has not re-read yet
        await b.flush()
        with pytest.raises(TooManyRequests):
            b.admit(fn)
        admin = function("other", owner="arn:aws:iam::000000000000:user/admin")
        a.admit(admin)  # other owners are not limited

        # Raised, it lets invocations run again; the next month starts from nothing.
        await service(engine, a).put_budget({"Owner": OWNER, "GBSeconds": 10})
        a.admit(fn)
        await service(engine, a).put_budget({"Owner": OWNER, "GBSeconds": 3})
        with pytest.raises(TooManyRequests):
            a.admit(fn)
        clock.now = dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc)
        await a.flush()
        a.admit(fn)
        listed = await service(engine, a).budgets()
        assert listed == [{"Owner": OWNER, "GBSeconds": 3.0, "Cost": None, "Month": listed[0]["Month"],
                           "SpentGBSeconds": listed[0]["SpentGBSeconds"], "SpentCost": listed[0]["SpentCost"]}]
        await service(engine, a).delete_budget(OWNER)
        assert await UsageStore(engine).budgets() == {}
    finally:
        await a.stop()
        await b.stop()


async def test_budgets_are_stored_and_replaced(engine) -> None:
    store = UsageStore(engine)
    await store.put_budget(Budget(OWNER, 5.0, None))
    await store.put_budget(Budget(OWNER, None, 1.5))
    assert await store.budgets() == {OWNER: Budget(OWNER, None, 1.5)}
    assert await store.delete_budget(OWNER) and not await store.delete_budget(OWNER)


async def test_owners_come_from_functions_and_rollups(engine, clock: Clock) -> None:
    async with engine.begin() as conn:
        await conn.execute(insert(functions).values(
            name="f", runtime="python3.13", handler="h", role="r", description="", memory_size=128, timeout=3,
            ephemeral_storage=512, environment="{}", package_type="Zip", code_size=0, image_config="{}",
            revision_id="x", last_modified=clock.now, owner=OWNER))
    assert await FunctionStore(engine).owners() == {OWNER}
    node = meter(engine, clock)
    node.throttled(function("g", owner="arn:aws:sts::000000000000:assumed-role/r/f"))
    await node.flush()
    assert await UsageStore(engine).owners() == {"arn:aws:sts::000000000000:assumed-role/r/f"}
