"""Retention: invocation records (with their logs) and audit entries older than their settings allow are
deleted in the background, in small batches, so the store does not grow without end; so are the records of a
log group with a retention of its own (PutRetentionPolicy), past it."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from typing import Protocol

from faas.lifecycle import cancel
from faas.model import utcnow

log = logging.getLogger(__name__)

INTERVAL_S = 600.0  # a prune that finds nothing is one indexed query per table
BATCH = 1000  # rows per transaction: short enough that SQLite's other writers never wait long
PAUSE_S = 0.05  # between batches, so waiting writers get the database


class Prunable(Protocol):
    async def prune_before(self, cutoff: dt.datetime, limit: int) -> int: ...


class LogGroups(Protocol):
    """faas.services.logs.LogService: deletes what each group's own retention no longer keeps."""

    async def prune(self, now: dt.datetime, batch: int) -> int: ...


@dataclasses.dataclass(frozen=True)
class Rule:
    what: str  # for the log: "invocation records"
    table: Prunable
    keep_days: float  # 0 keeps everything


class Pruner:
    def __init__(self, rules: list[Rule], interval_s: float = INTERVAL_S, batch: int = BATCH,
                 pause_s: float = PAUSE_S, log_groups: LogGroups | None = None) -> None:
        self._rules = [rule for rule in rules if rule.keep_days > 0]
        self._log_groups = log_groups
        self._interval = interval_s
        self._batch = batch
        self._pause = pause_s
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle (faas.lifecycle) ---------------------------------------------------------------

    async def start(self) -> None:
        if self._rules or self._log_groups is not None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def drain(self) -> None:
        """A pass under way may finish: it is bounded batches of deletes."""

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    async def prune(self, now: dt.datetime | None = None) -> dict[str, int]:
        """One pass over every rule: how many rows each lost."""
        now = now or utcnow()
        deleted: dict[str, int] = {}
        for rule in self._rules:
            cutoff = now - dt.timedelta(days=rule.keep_days)
            total = 0
            while True:
                count = await rule.table.prune_before(cutoff, self._batch)
                total += count
                if count < self._batch:
                    break
                await asyncio.sleep(self._pause)
            deleted[rule.what] = total
            if total:
                log.info("deleted %d %s older than %s", total, rule.what, cutoff.isoformat(timespec="seconds"))
        if self._log_groups is not None:
            deleted["log group records"] = total = await self._log_groups.prune(now, self._batch)
            if total:
                log.info("deleted %d invocation records past their log group's retention", total)
        return deleted

    async def _run(self) -> None:
        while True:  # the first pass at start: a node that was down a while catches up at once
            try:
                await self.prune()
            except Exception:  # the store is unavailable: try again at the next interval
                log.exception("pruning old records failed")
            await asyncio.sleep(self._interval)
