"""The usage meter: every invocation and throttle is counted into its month's rollup in memory and the
sums are written every second (one upsert per month, function and owner: faas.store.usage), and owners
past their monthly budget are refused before any work.

Budgets hold across nodes through the rollups: each write reads back every budgeted owner's month, all
nodes' use included. On this node an owner's spend is that figure plus what is counted here but not yet
written, so once the spend reaches the limit the next invocation is refused: only invocations already in
flight when it was reached can take it further."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable

from faas.billing import BUDGET_REASON, Prices, month_of, owner_of
from faas.errors import TooManyRequests
from faas.lifecycle import cancel
from faas.model import Function, InvocationRecord, utcnow
from faas.store.usage import Budget, Key, Usage, UsageStore

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 1.0


class UsageMeter:
    def __init__(self, store: UsageStore, prices: Prices, *, enabled: bool = True,
                 flush_interval_s: float = FLUSH_INTERVAL_S, now: Callable[[], dt.datetime] = utcnow) -> None:
        self.enabled = enabled
        self._store = store
        self._prices = prices
        self._interval = flush_interval_s
        self._now = now
        self._pending: dict[Key, Usage] = defaultdict(Usage)  # counted, not yet being written
        self._unwritten: dict[tuple[str, str], Usage] = defaultdict(Usage)  # (month, owner): pending + being written
        self._budgets: dict[str, Budget] = {}
        self._written: dict[str, Usage] = {}  # budgeted owner -> the month's use in the store
        self._written_month = ""
        self._task: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()  # one write at a time: each swaps what it wrote for what the store holds

    # -- the invoke path: no awaits, so checks and counts are atomic on the event loop -----------------

    def admit(self, fn: Function) -> None:
        """Refuse (429) an invocation of a function whose owner has spent its budget for this month."""
        if not self.enabled:
            return
        owner = owner_of(fn)
        budget = self._budgets.get(owner)
        if budget is None:
            return
        spent = self.spent(owner, month_of(self._now()))
        cost = self._prices.cost(spent.requests, spent.gb_seconds)
        if budget.gb_seconds is not None and spent.gb_seconds >= budget.gb_seconds:
            raise TooManyRequests(f"Rate Exceeded. The monthly budget of {owner} is spent: {spent.gb_seconds:.4f} "
                                  f"of {budget.gb_seconds:g} GB-seconds.", Reason=BUDGET_REASON)
        if budget.cost is not None and cost >= budget.cost:
            raise TooManyRequests(f"Rate Exceeded. The monthly budget of {owner} is spent: ${cost:.6f} of "
                                  f"${budget.cost:g}.", Reason=BUDGET_REASON)

    def invoked(self, fn: Function, record: InvocationRecord) -> None:
        """Count one invocation (each attempt of an asynchronous event and each batch of an event source is
        one, as Lambda bills them)."""
        if not self.enabled:
            return
        self._count(fn, record.started_at, Usage(
            requests=1, errors=int(record.outcome != "success"), cold_starts=int(record.cold),
            duration_ms=record.duration_ms, billed_ms=record.billed_duration_ms,
            mb_ms=record.memory_size * record.billed_duration_ms))

    def throttled(self, fn: Function) -> None:
        if self.enabled:
            self._count(fn, self._now(), Usage(throttles=1))

    def _count(self, fn: Function, at: dt.datetime, delta: Usage) -> None:
        month, owner = month_of(at), owner_of(fn)
        self._pending[(month, fn.name, owner)].add(delta)
        self._unwritten[(month, owner)].add(delta)

    def spent(self, owner: str, month: str) -> Usage:
        """The owner's use this month as far as this node knows: written by any node, or counted here."""
        total = Usage()
        if month == self._written_month and owner in self._written:
            total.add(self._written[owner])
        unwritten = self._unwritten.get((month, owner))
        if unwritten is not None:
            total.add(unwritten)
        return total

    # -- writing (faas.lifecycle) ----------------------------------------------------------------------

    async def start(self) -> None:
        if self.enabled:
            await self.flush()  # budgets and this month's use before the first invocation
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def drain(self) -> None:
        """Nothing to refuse: what finishes while draining is still counted."""

    async def stop(self) -> None:
        await cancel(self._task)
        if self.enabled:
            await self.flush()

    async def flush(self) -> None:
        """Write what is counted, and read back budgets and budgeted owners' use: also called once a budget
        changes on this node, so it applies at once (other nodes see it at their next write)."""
        async with self._flushing:
            await self._flush()

    async def _flush(self) -> None:
        batch, self._pending = self._pending, defaultdict(Usage)
        month = month_of(self._now())
        try:
            budgets, written = await self._store.add(batch, month)
        except Exception:
            for key, usage in batch.items():  # the store is unavailable: counted again at the next write
                self._pending[key].add(usage)
            raise
        # No await from here on: what the store now holds stops counting as unwritten in the same step.
        for (batch_month, _, owner), usage in batch.items():
            unwritten = self._unwritten[(batch_month, owner)]
            unwritten.subtract(usage)
            if unwritten.requests == 0 and unwritten.throttles == 0 and unwritten.mb_ms == 0:
                del self._unwritten[(batch_month, owner)]
        self._budgets, self._written, self._written_month = budgets, written, month

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception:
                log.exception("writing usage rollups failed; retrying")
