"""Usage and billing: a month's usage per function or per owner, priced with the free tier, and owners'
monthly budgets. The REST API (GET /faas/v1/usage) and the console both call `report`.

`await usage.report(month, by, function=None)` returns (and GET /faas/v1/usage answers) this dict:

    {"Month": "2026-12", "By": "function",          # or "owner"
     "BillingStepMs": 100, "BillInit": false,        # the node's metering settings
     "Prices": {"PerMillionRequests": 0.2, "PerGBSecond": 0.0000166667},
     "FreeTier": {"Requests": 1000000, "GBSeconds": 400000.0},
     "Rows": [{"Function": "hello", "Owner": "arn:aws:iam::000000000000:user/admin",   # by owner: no
               "Requests": 3, "GBSeconds": 0.0375, "DurationMs": 12.5,              # "Function", and
               "BilledDurationMs": 300, "Errors": 0, "Throttles": 1, "ColdStarts": 1, # "Functions" (how
               "Cost": 0.000000625}],                                                # many) instead
     "Total": {"Requests": 3, "GBSeconds": 0.0375, "DurationMs": 12.5, "BilledDurationMs": 300,
               "Errors": 0, "Throttles": 1, "ColdStarts": 1,
               "Cost": 0.000000625,                  # before the free tier
               "FreeRequests": 3, "FreeGBSeconds": 0.0375,   # what the free tier covered
               "Due": 0.0}}                          # after it

Rows are by function (and owner: a name deleted and created again by another principal is two rows) or by
owner, sorted by name; an owner is a principal's ARN, or "unknown" for functions made before owners were
recorded. Each row's Cost is its use priced without the free tier, which is the account's: it is applied
once, to the total. Budgets compare an owner's Cost (or GB-seconds) this month with its limit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from faas.billing import Metering, Prices, month_of
from faas.errors import InvalidParameterValue, ResourceNotFound
from faas.model import utcnow
from faas.store.usage import Budget, Usage, UsageStore

MONTH_RE = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
GROUPINGS = ("function", "owner")


class Meter(Protocol):
    """What the service asks of the usage meter (faas.dispatch.usage) the invoke path counts with."""

    def spent(self, owner: str, month: str) -> Usage: ...

    async def flush(self) -> None: ...


def check_month(month: str) -> str:
    if not MONTH_RE.fullmatch(month):
        raise InvalidParameterValue(f"month must be YYYY-MM (e.g. {month_of(utcnow())}), not {month!r}")
    return month


class UsageService:
    def __init__(self, store: UsageStore, meter: Meter, metering: Metering, prices: Prices, *,
                 function_exists: Callable[[str], Awaitable[bool]],
                 known_owner: Callable[[str], Awaitable[bool]]) -> None:
        self._store = store
        self._meter = meter
        self._metering = metering
        self._prices = prices
        self._function_exists = function_exists
        self._known_owner = known_owner

    async def report(self, month: str, by: str = "function", function: str | None = None) -> dict[str, Any]:
        """The month's usage (see the module docstring for its shape); `function` keeps only its rows and
        is refused (404) when it neither exists nor used anything that month."""
        check_month(month)
        if by not in GROUPINGS:
            raise InvalidParameterValue(f"by must be function or owner, not {by!r}")
        rows = await self._store.month(month)
        if function is not None:
            rows = [row for row in rows if row[0] == function]
            if not rows and not await self._function_exists(function):
                raise ResourceNotFound(f"Function not found: {function}")
        total = Usage()
        for _, _, usage in rows:
            total.add(usage)
        if by == "function":
            shown = [{"Function": name, "Owner": owner, **self._figures(usage)} for name, owner, usage in rows]
        else:
            owners: dict[str, tuple[Usage, set[str]]] = {}
            for name, owner, usage in rows:
                summed, names = owners.setdefault(owner, (Usage(), set()))
                summed.add(usage)
                names.add(name)
            shown = [{"Owner": owner, "Functions": len(names), **self._figures(summed)}
                     for owner, (summed, names) in sorted(owners.items())]
        free_requests = min(total.requests, self._prices.free_requests)
        free_gb_seconds = min(total.gb_seconds, self._prices.free_gb_seconds)
        due = self._prices.cost(total.requests - free_requests, total.gb_seconds - free_gb_seconds)
        return {
            "Month": month, "By": by,
            "BillingStepMs": self._metering.step_ms, "BillInit": self._metering.bill_init,
            "Prices": {"PerMillionRequests": self._prices.per_million_requests,
                       "PerGBSecond": self._prices.per_gb_second},
            "FreeTier": {"Requests": self._prices.free_requests, "GBSeconds": self._prices.free_gb_seconds},
            "Rows": shown,
            "Total": {**self._figures(total), "FreeRequests": free_requests,
                      "FreeGBSeconds": round(free_gb_seconds, 6), "Due": due},
        }

    def _figures(self, usage: Usage) -> dict[str, Any]:
        return {"Requests": usage.requests, "GBSeconds": round(usage.gb_seconds, 6),
                "DurationMs": round(usage.duration_ms, 3), "BilledDurationMs": usage.billed_ms,
                "Errors": usage.errors, "Throttles": usage.throttles, "ColdStarts": usage.cold_starts,
                "Cost": self._prices.cost(usage.requests, usage.gb_seconds)}

    # -- budgets ---------------------------------------------------------------------------------------

    async def budgets(self) -> list[dict[str, Any]]:
        """Every budget, with what its owner has spent this month (as far as this node knows)."""
        month = month_of(utcnow())
        return [self._describe(budget, month) for _, budget in sorted((await self._store.budgets()).items())]

    async def put_budget(self, params: dict[str, Any]) -> dict[str, Any]:
        owner = params.get("Owner")
        if not isinstance(owner, str) or not owner:
            raise InvalidParameterValue("Owner is required: the ARN of the principal that owns the functions")
        gb_seconds, cost = _limit(params, "GBSeconds"), _limit(params, "Cost")
        if gb_seconds is None and cost is None:
            raise InvalidParameterValue("A budget needs GBSeconds or Cost (or both): a monthly limit")
        if not await self._known_owner(owner):
            raise ResourceNotFound(f"Owner not found: {owner} is neither a principal nor the owner of a function")
        budget = Budget(owner, gb_seconds, cost)
        await self._store.put_budget(budget)
        await self._meter.flush()
        return self._describe(budget, month_of(utcnow()))

    async def delete_budget(self, owner: str) -> None:
        if not await self._store.delete_budget(owner):
            raise ResourceNotFound(f"No budget for owner {owner}")
        await self._meter.flush()

    def _describe(self, budget: Budget, month: str) -> dict[str, Any]:
        spent = self._meter.spent(budget.owner, month)
        return {"Owner": budget.owner, "GBSeconds": budget.gb_seconds, "Cost": budget.cost, "Month": month,
                "SpentGBSeconds": round(spent.gb_seconds, 6),
                "SpentCost": self._prices.cost(spent.requests, spent.gb_seconds)}


def _limit(params: dict[str, Any], name: str) -> float | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidParameterValue(f"{name} must be a number")
    if value < 0:
        raise InvalidParameterValue(f"{name} must not be below zero (it is a monthly limit): {value:g}")
    return float(value)
