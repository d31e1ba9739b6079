"""What a function's asynchronous invocations are doing, for `faas events NAME`: waiting for an attempt or a
retry, running, or failed for good. The first two are the async source's leased work (faas.sources.async_events);
failed ones are kept beside it (faas.store.async_failures). The error of an event's last attempt is read from the
invocation records, which every attempt writes under the event's request id."""

from __future__ import annotations

import dataclasses
import datetime as dt

from faas.model import utcnow
from faas.sources.async_events import ASYNC, encode_event
from faas.store.async_failures import AsyncFailureStore
from faas.store.invocations import InvocationStore
from faas.store.work import WorkStore

STATES = ("pending", "failed", "all")  # what may be asked for: pending includes the running


@dataclasses.dataclass(frozen=True)
class EventStatus:
    request_id: str
    state: str  # pending, running or failed
    attempts: int  # attempts started so far
    enqueued_at: dt.datetime
    payload_bytes: int  # never the payload itself: it may carry secrets
    last_error: str | None = None  # the errorType of the last attempt, when it failed and is known
    next_attempt_at: dt.datetime | None = None  # pending: when it may run next
    failed_at: dt.datetime | None = None
    reason: str | None = None  # failed: RetriesExhausted or EventAgeExceeded
    sent_to: tuple[str, ...] = ()  # failed: the on-failure destination and dead-letter target it reached


class AsyncEventList:
    def __init__(self, work: WorkStore, failures: AsyncFailureStore, records: InvocationStore) -> None:
        self._work = work
        self._failures = failures
        self._records = records

    async def events(self, function_name: str, state: str, limit: int) -> list[EventStatus]:
        """Up to `limit` of a function's events in `state` (one of STATES): pending and running ones first,
        earliest queued first, then failed ones, latest first."""
        listed = []
        if state in ("pending", "all"):
            now = utcnow()
            header = encode_event(function_name, b"")  # an async work item's payload starts with its function
            for item in await self._work.heads(ASYNC, payload_prefix=header, limit=limit):
                running = item.owner is not None and item.due_at > now  # held under a lease still running
                listed.append(EventStatus(item.key, "running" if running else "pending", item.attempts,
                                          item.created_at, item.payload_bytes - len(header),
                                          next_attempt_at=None if running else item.due_at))
        if state in ("failed", "all") and len(listed) < limit:
            listed += [EventStatus(f.request_id, "failed", f.attempts, f.enqueued_at, f.payload_bytes, f.error_type,
                                   failed_at=f.failed_at, reason=f.reason, sent_to=f.sent_to)
                       for f in await self._failures.recent(function_name, limit - len(listed))]
        unknown = [event.request_id for event in listed if event.last_error is None and event.attempts]
        errors = await self._records.last_errors(function_name, unknown)
        return [dataclasses.replace(event, last_error=event.last_error or errors.get(event.request_id))
                for event in listed]
