"""Billing's rules (steps, init billing, prices), the usage meter's bookkeeping over a fake store, and the
usage service's checks of what callers send."""

from __future__ import annotations

import datetime as dt

import pytest

from faas.billing import Metering, Prices, month_of
from faas.cli import build_parser
from faas.dispatch.usage import UsageMeter
from faas.errors import InvalidParameterValue, ResourceNotFound, TooManyRequests
from faas.services.usage import UsageService
from faas.store.usage import Budget, Key, Usage

from tests.integration.test_usage_sql import OWNER, function, record

NOW = dt.datetime(2026, 12, 31, 23, 59, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize(("step", "bill_init", "duration", "init", "billed"), [
    (100, False, 0.2, 250.0, 100), (100, False, 100.01, None, 200), (100, True, 50.0, 250.5, 400),
    (1, False, 0.2, None, 1), (1, False, 12.3, 300.0, 13), (1, True, 12.3, 300.4, 313), (1, True, 2.0, None, 2),
])
def test_billed_duration_follows_the_step_and_init_settings(step, bill_init, duration, init, billed):
    assert Metering(step, bill_init).billed_ms(duration, init) == billed


def test_prices_are_per_million_requests_and_per_gb_second():
    assert Prices().cost(1_000_000, 0) == pytest.approx(0.20)
    assert Prices().cost(0, 400_000) == pytest.approx(6.66668)
    assert Prices(per_million_requests=1.0, per_gb_second=0.5).cost(2_000_000, 3) == pytest.approx(3.5)
    assert month_of(NOW) == "2026-12"


class FakeStore:
    def __init__(self) -> None:
        self.rows: dict[Key, Usage] = {}
        self.limits: dict[str, Budget] = {}
        self.failing = False

    async def add(self, deltas, month):  # type: ignore[no-untyped-def]
        if self.failing:
            raise OSError("store down")
        for key, delta in deltas.items():
            self.rows.setdefault(key, Usage()).add(delta)
        used: dict[str, Usage] = {}
        for (row_month, _, owner), usage in self.rows.items():
            if row_month == month and owner in self.limits:
                used.setdefault(owner, Usage()).add(usage)
        return dict(self.limits), used


async def test_the_meter_counts_once_whether_written_or_not_and_keeps_counts_the_store_refused():
    store = FakeStore()
    store.limits[OWNER] = Budget(OWNER, gb_seconds=2.5, cost=None)
    meter = UsageMeter(store, Prices(), now=lambda: NOW)  # type: ignore[arg-type]
    await meter.flush()
    fn = function("hello")  # 1 GB, 1 s: one GB-second each
    meter.invoked(fn, record(fn, NOW))
    assert meter.spent(OWNER, "2026-12").gb_seconds == 1.0
    store.failing = True
    with pytest.raises(OSError):
        await meter.flush()
    meter.invoked(fn, record(fn, NOW))
    assert meter.spent(OWNER, "2026-12").gb_seconds == 2.0  # nothing lost, nothing counted twice
    meter.admit(fn)
    store.failing = False
    await meter.flush()
    assert meter.spent(OWNER, "2026-12").gb_seconds == 2.0
    assert store.rows[("2026-12", "hello", OWNER)].requests == 2
    meter.invoked(fn, record(fn, NOW))  # 3 of 2.5: refused from now on, written or not
    with pytest.raises(TooManyRequests) as refused:
        meter.admit(fn)
    assert refused.value.fields["Reason"] == "OwnerBudgetExceeded" and "3.0000 of 2.5 GB-seconds" in refused.value.message


async def test_a_cost_budget_and_an_owner_without_one():
    store = FakeStore()
    store.limits[OWNER] = Budget(OWNER, gb_seconds=None, cost=0.00001)
    meter = UsageMeter(store, Prices(), now=lambda: NOW)  # type: ignore[arg-type]
    await meter.flush()
    fn = function("hello")
    meter.admit(fn)
    meter.invoked(fn, record(fn, NOW))  # $0.0000168667 of $0.00001
    with pytest.raises(TooManyRequests, match=r"\$0.000017 of \$1e-05"):
        meter.admit(fn)
    store.limits[OWNER] = Budget(OWNER, gb_seconds=None, cost=0.0)  # a limit of 0 refuses everything
    await meter.flush()
    with pytest.raises(TooManyRequests):
        meter.admit(function("other"))
    meter.admit(function("legacy", owner=None))  # "unknown" has no budget


async def test_a_disabled_meter_counts_nothing_and_refuses_nothing():
    store = FakeStore()
    store.limits[OWNER] = Budget(OWNER, gb_seconds=0.0, cost=None)
    meter = UsageMeter(store, Prices(), enabled=False, now=lambda: NOW)  # type: ignore[arg-type]
    await meter.start()
    fn = function("hello")
    meter.invoked(fn, record(fn, NOW))
    meter.throttled(fn)
    meter.admit(fn)
    await meter.stop()
    assert store.rows == {}


class NoRows:
    async def month(self, month: str) -> list:
        return []

    async def put_budget(self, budget: Budget) -> None:
        raise AssertionError("nothing may be stored")


def usage_service() -> UsageService:
    async def never(name: str) -> bool:
        return False

    meter = UsageMeter(FakeStore(), Prices())  # type: ignore[arg-type]
    return UsageService(NoRows(), meter, Metering(), Prices(), function_exists=never,  # type: ignore[arg-type]
                        known_owner=never)


@pytest.mark.parametrize("month", ["2026-13", "2026-00", "2026-1", "202612", "2026-12-01", "", "２０２６-12"])
async def test_a_bad_month_is_refused(month):
    with pytest.raises(InvalidParameterValue, match="YYYY-MM"):
        await usage_service().report(month)


async def test_a_bad_grouping_or_an_unknown_function_is_refused():
    with pytest.raises(InvalidParameterValue, match="function or owner"):
        await usage_service().report("2026-12", "region")
    with pytest.raises(ResourceNotFound, match="nope"):
        await usage_service().report("2026-12", "function", "nope")


@pytest.mark.parametrize(("params", "error", "words"), [
    ({"Owner": OWNER, "GBSeconds": -1}, InvalidParameterValue, "below zero"),
    ({"Owner": OWNER, "Cost": -0.5}, InvalidParameterValue, "below zero"),
    ({"Owner": OWNER, "Cost": float("nan")}, InvalidParameterValue, "a number"),
    ({"Owner": OWNER, "GBSeconds": True}, InvalidParameterValue, "a number"),
    ({"Owner": OWNER}, InvalidParameterValue, "GBSeconds or Cost"),
    ({"GBSeconds": 1}, InvalidParameterValue, "Owner is required"),
    ({"Owner": OWNER, "GBSeconds": 1}, ResourceNotFound, "neither a principal"),
])
async def test_a_bad_budget_is_refused_before_anything_is_stored(params, error, words):
    with pytest.raises(error, match=words):
        await usage_service().put_budget(params)


def test_usage_cli_options():
    args = build_parser().parse_args(["usage", "--month", "2026-11", "--by", "owner", "--csv"])
    assert (args.month, args.by, args.output) == ("2026-11", "owner", "csv")
    assert build_parser().parse_args(["usage"]).output is None  # text, unless FAAS_OUTPUT says otherwise
    assert build_parser().parse_args(["usage", "--json", "--csv"]).output == "csv"  # the last wins, as with -o
