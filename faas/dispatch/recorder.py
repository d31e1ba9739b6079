"""Appends that must not slow their caller (invocation records, audit entries) leave through a buffer
written to SQL in batches: every 0.5 s, when 500 are waiting, and at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from typing import Any, Protocol

from sqlalchemy.exc import DataError, IntegrityError

from faas.lifecycle import cancel

log = logging.getLogger(__name__)


class Sink(Protocol):
    async def add_many(self, items: list[Any]) -> None: ...


class Coalescer(Protocol):
    """Folds repeated records into fewer (see faas.dispatch.refusals)."""

    def offer(self, record: Any, now: float) -> list[Any]: ...

    def closed(self, now: float) -> list[Any]: ...

    def drain(self) -> list[Any]: ...


class Recorder:
    """`max_pending` bounds the buffer: past it (the store is slower than what arrives) records are dropped
    and counted rather than held; None keeps every record (invocation records: metering needs them)."""

    def __init__(self, store: Sink, flush_interval_s: float = 0.5, batch: int = 500,
                 max_pending: int | None = None, coalescer: Coalescer | None = None) -> None:
        self._store = store
        self._interval = flush_interval_s
        self._batch = batch
        self._max_pending = max_pending
        self._coalescer = coalescer
        self._pending: list[Any] = []
        self._flushing = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0  # records refused by a full buffer since start
        self._dropped_reported = 0

    # -- lifecycle (faas.lifecycle) ---------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def drain(self) -> None:
        """Nothing to refuse: what the other parts finish while draining is still recorded."""

    def add(self, record: Any) -> None:
        if self._coalescer is None:
            self._append(record)
        else:
            for kept in self._coalescer.offer(record, time.monotonic()):
                self._append(kept)

    def _append(self, record: Any) -> None:
        if self._max_pending is not None and len(self._pending) >= self._max_pending:
            self.dropped += 1
            return
        self._pending.append(record)
        if len(self._pending) >= self._batch:
            self._wake.set()

    async def flush(self) -> None:
        """Write what is pending. A flush under way (the background one) is waited for first: a reader that
        flushes before it reads (the audit log's) must find written everything added before it asked."""
        async with self._flushing:
            await self._flush()

    async def _flush(self) -> None:
        if self._coalescer is not None:
            for summary in self._coalescer.closed(time.monotonic()):
                self._append(summary)
        if self.dropped > self._dropped_reported:
            log.warning("dropped %d records since start: the buffer of %d was full (the store is too slow)",
                        self.dropped, self._max_pending)
            self._dropped_reported = self.dropped
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

    async def stop(self) -> None:
        await cancel(self._task)
        if self._coalescer is not None:  # nothing counted is lost on a clean stop
            for summary in self._coalescer.drain():
                self._append(summary)
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
