"""What `faas events NAME` reads, against real SQLite and real PostgreSQL: a function's failed asynchronous
invocations (faas.store.async_failures), its waiting and running ones as leased work without their payloads
(WorkStore.heads), the last error of each from the invocation records (InvocationStore.last_errors), and the
listing made of the three (faas.sources.async_listing)."""

from __future__ import annotations

import datetime as dt

import pytest

from faas.model import utcnow
from faas.sources.async_events import ASYNC, encode_event
from faas.sources.async_listing import AsyncEventList
from faas.store.async_failures import AsyncFailure, AsyncFailureStore
from faas.store.functions import FunctionStore
from faas.store.invocations import InvocationStore
from faas.store.work import WorkHead, WorkStore
from tests.integration.test_store_sql import function, record

T0 = dt.datetime(2026, 12, 1, 10, 0, 0, 250000, tzinfo=dt.timezone.utc)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def failure(request_id: str, function_name: str = "orders", failed_s: float = 0, **changes) -> AsyncFailure:
    values = dict(request_id=request_id, function_name=function_name, enqueued_at=at(failed_s - 3),
                  failed_at=at(failed_s), attempts=3, reason="RetriesExhausted", error_type="ValueError",
                  payload_bytes=12, sent_to=("arn:aws:sqs:us-east-1:000000000000:dlq",))
    values.update(changes)
    return AsyncFailure(**values)  # type: ignore[arg-type]


@pytest.fixture
async def functions(engine) -> FunctionStore:
    store = FunctionStore(engine)
    for name in ("orders", "orders-2", "billing"):
        await store.create(function(name), b"zip")
    return store


@pytest.fixture
def failures(engine) -> AsyncFailureStore:
    return AsyncFailureStore(engine)


async def test_failures_are_read_back_per_function_newest_first(functions, failures):
    assert await failures.add(failure("r-old", failed_s=0, sent_to=()))
    assert await failures.add(failure("r-new", failed_s=10, reason="EventAgeExceeded", error_type=None))
    assert await failures.add(failure("r-other", function_name="billing", failed_s=5))

    assert await failures.recent("orders", 10) == [
        failure("r-new", failed_s=10, reason="EventAgeExceeded", error_type=None), failure("r-old", sent_to=())]
    assert [f.request_id for f in await failures.recent("orders", 1)] == ["r-new"]
    assert [f.request_id for f in await failures.recent("billing", 10)] == ["r-other"]
    assert await failures.recent("orders-2", 10) == []


async def test_the_same_failure_twice_keeps_the_first(functions, failures):
    assert await failures.add(failure("r-1", attempts=3))
    assert await failures.add(failure("r-1", attempts=4))  # its node died after recording it; run once more
    assert [f.attempts for f in await failures.recent("orders", 10)] == [3]


async def test_failures_go_with_their_function_and_none_is_kept_for_a_function_gone(functions, failures):
    await failures.add(failure("r-1"))
    await failures.add(failure("r-2", function_name="billing"))
    await functions.delete("orders")
    assert await failures.recent("orders", 10) == []
    assert not await failures.add(failure("r-3"))  # deleted while its event ran: nothing to keep it for
    await functions.create(function("orders"), b"zip")  # a new function of that name starts with none
    assert await failures.recent("orders", 10) == []
    assert [f.request_id for f in await failures.recent("billing", 10)] == ["r-2"]


async def test_failures_older_than_the_cutoff_are_pruned_oldest_first_in_batches(functions, failures):
    for n in range(5):
        await failures.add(failure(f"r-{n}", failed_s=n))
    assert await failures.prune_before(at(3), limit=2) == 2
    assert [f.request_id for f in await failures.recent("orders", 10)] == ["r-4", "r-3", "r-2"]
    assert await failures.prune_before(at(3), limit=2) == 1
    assert await failures.prune_before(at(3), limit=2) == 0
    assert [f.request_id for f in await failures.recent("orders", 10)] == ["r-4", "r-3"]


async def test_the_heads_of_a_functions_async_work_in_the_order_added_without_payloads(engine):
    work = WorkStore(engine)
    await work.add(ASYNC, "r-1", encode_event("orders", b'{"n": 1}'), due_at=at(0))
    # Another function whose name starts the same, and another kind with the same payload: neither is listed.
    await work.add(ASYNC, "r-2", encode_event("orders-2", b"{}"), due_at=at(0))
    await work.add("sqs:orders", "m-1", encode_event("orders", b"{}"), due_at=at(0))
    await work.add(ASYNC, "r-3", encode_event("orders", b"x" * 5000), due_at=at(1), created_at=at(-2))
    [claimed] = await work.claim(ASYNC, "node-a", lease_s=60, limit=1, now=at(0))
    assert claimed.key == "r-1"
    prefix = encode_event("orders", b"")

    heads = await work.heads(ASYNC, payload_prefix=prefix, limit=10)
    assert heads == [WorkHead("r-1", at(0), at(60), 1, "node-a", len(prefix) + 8),
                     WorkHead("r-3", at(-2), at(1), 0, None, len(prefix) + 5000)]
    assert [h.key for h in await work.heads(ASYNC, payload_prefix=prefix, limit=1)] == ["r-1"]
    assert await work.heads(ASYNC, payload_prefix=encode_event("billing", b""), limit=10) == []


async def test_the_last_error_is_the_latest_attempts_when_it_failed(engine):
    records = InvocationStore(engine)
    await records.add_many([
        record("orders", at(0), request_id="r-retried", outcome="error", error_type="ValueError"),
        record("orders", at(5), request_id="r-retried", outcome="timeout", error_type="Sandbox.Timedout"),
        record("orders", at(0), request_id="r-recovered", outcome="error", error_type="ValueError"),
        record("orders", at(5), request_id="r-recovered"),
        record("billing", at(0), request_id="r-elsewhere", outcome="error", error_type="KeyError"),
    ])
    assert await records.last_errors("orders", ["r-retried", "r-recovered", "r-elsewhere", "r-none"]) == {
        "r-retried": "Sandbox.Timedout"}
    assert await records.last_errors("orders", []) == {}


async def test_a_functions_events_pending_and_running_first_then_failed_with_their_last_errors(engine, functions,
                                                                                                 failures):
    work, records = WorkStore(engine), InvocationStore(engine)
    listing = AsyncEventList(work, failures, records)
    now = utcnow()
    await work.add(ASYNC, "r-retry", encode_event("orders", b"12345"), due_at=now - dt.timedelta(seconds=10))
    [first] = await work.claim(ASYNC, "node-a", lease_s=600, limit=1, now=now)  # its first attempt failed:
    await work.release(first.id, "node-a", delay_s=60, now=now)  # the retry is due in a minute
    await work.add(ASYNC, "r-running", encode_event("orders", b"{}"), due_at=now - dt.timedelta(seconds=5))
    await work.claim(ASYNC, "node-a", lease_s=600, limit=1, now=now)
    await work.add(ASYNC, "r-billing", encode_event("billing", b"{}"), due_at=now)
    await records.add_many([record("orders", now - dt.timedelta(seconds=9), request_id="r-retry", outcome="error",
                                   error_type="ValueError")])
    await failures.add(failure("r-failed", failed_s=0, error_type="TypeError"))
    await failures.add(failure("r-too-old", failed_s=1, reason="EventAgeExceeded", error_type=None, attempts=1))
    await records.add_many([record("orders", at(-5), request_id="r-too-old", outcome="error", error_type="KeyError")])

    events = await listing.events("orders", "all", 10)
    assert [(e.request_id, e.state, e.attempts, e.last_error) for e in events] == [
        ("r-retry", "pending", 1, "ValueError"), ("r-running", "running", 1, None),
        ("r-too-old", "failed", 1, "KeyError"), ("r-failed", "failed", 3, "TypeError")]
    retry, running, too_old, _ = events
    assert running.next_attempt_at is None and retry.next_attempt_at == now + dt.timedelta(seconds=60)
    assert (retry.payload_bytes, retry.failed_at, retry.sent_to) == (5, None, ())
    assert (too_old.reason, too_old.failed_at, too_old.next_attempt_at) == ("EventAgeExceeded", at(1), None)
    assert [e.request_id for e in await listing.events("orders", "pending", 10)] == ["r-retry", "r-running"]
    assert [e.request_id for e in await listing.events("orders", "failed", 10)] == ["r-too-old", "r-failed"]
    assert [e.request_id for e in await listing.events("orders", "all", 3)] == ["r-retry", "r-running", "r-too-old"]
    assert [e.request_id for e in await listing.events("billing", "all", 10)] == ["r-billing"]
