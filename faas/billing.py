"""Billing's plain rules: an invocation's billed duration, in billing steps (FAAS_BILLING_STEP_MS), with or
without its init phase (FAAS_BILL_INIT); the price table and free tier; months and owners as usage keys."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

from faas.model import Function

UNKNOWN_OWNER = "unknown"  # functions created before owners were recorded
BUDGET_REASON = "OwnerBudgetExceeded"  # the 429's Reason once an owner's monthly budget is spent

BILLING_STEP_MS = 100  # what this platform has always metered; AWS bills 1 ms steps since 2020


def billed_duration_ms(duration_ms: float, step_ms: int = BILLING_STEP_MS) -> int:
    """Round up to the next step; every invocation costs at least one step."""
    return max(step_ms, math.ceil(duration_ms / step_ms) * step_ms)


@dataclasses.dataclass(frozen=True)
class Metering:
    step_ms: int = BILLING_STEP_MS
    bill_init: bool = False  # AWS bills the init phase of cold starts since 2025

    def billed_ms(self, duration_ms: float, init_duration_ms: float | None) -> int:
        billed = duration_ms + (init_duration_ms or 0.0) if self.bill_init else duration_ms
        return billed_duration_ms(billed, self.step_ms)


@dataclasses.dataclass(frozen=True)
class Prices:
    """The price table (USD) and the monthly free tier, which is the account's, applied before pricing."""

    per_million_requests: float = 0.20  # AWS's x86 prices
    per_gb_second: float = 0.0000166667
    free_requests: int = 1_000_000
    free_gb_seconds: float = 400_000.0

    def cost(self, requests: int, gb_seconds: float) -> float:
        """The price of this much use, before any free tier."""
        return requests * self.per_million_requests / 1_000_000 + gb_seconds * self.per_gb_second


def month_of(at: dt.datetime) -> str:
    """The usage month (YYYY-MM) of a UTC instant."""
    return at.strftime("%Y-%m")


def owner_of(fn: Function) -> str:
    return fn.owner or UNKNOWN_OWNER
