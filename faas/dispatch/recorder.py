"""Appends that must not slow their caller (invocation records, audit entries) leave through a buffer
written to SQL in batches: every 0.5 s, when 500 are waiting, and at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from typing import Any, Protocol

from sqlalchemy.exc import DataError, IntegrityError

log = logging.getLogger(__name__)


class Sink(Protocol):
    async def add_many(self, items: list[Any]) -> None: ...


class Recorder:
    def __init__(self, store: Sink, flush_interval_s: float = 0.5, batch: int = 500) -> None:
        self._store = store
        self._interval = flush_interval_s
        self._batch = batch
        self._pending: list[Any] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def add(self, record: Any) -> None:
        self._pending.append(record)
        if len(self._pending) >= self._batch:
            self._wake.set()

    async def flush(self) -> None:
        while self._pending:
            records, self._pending = self._pending[: self._batch], self._pending[self._batch:]
            try:
                await self._store.add_many(records)
            except (IntegrityError, DataError):
                # Something in the batch can never be stored: keep the rest, drop only that.
                for record in records:
                    try:
                        await self._store.add_many([record])
                    except (IntegrityError, DataError) as exc:
                        log.error("dropping a record that cannot be stored: %s", exc.__class__.__name__)
            except Exception:
                log.exception("writing %d records failed; retrying", len(records))
                self._pending[:0] = records  # the store is unavailable: keep them for the next try
                raise

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            with contextlib.suppress(Exception):
                await self.flush()
            if self._pending:
                await asyncio.sleep(self._interval)  # the store is failing: back off
