"""Metering: durations are billed in 100 ms steps."""

from __future__ import annotations

import math

BILLING_STEP_MS = 100


def billed_duration_ms(duration_ms: float) -> int:
    """Round up to the next 100 ms; every invocation costs at least one step."""
    return max(BILLING_STEP_MS, math.ceil(duration_ms / BILLING_STEP_MS) * BILLING_STEP_MS)
