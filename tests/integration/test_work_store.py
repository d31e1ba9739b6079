"""Leased work (faas.store.work) against real SQLite and real PostgreSQL: claim under a lease, renew,
complete, release after a delay, reclaim what a dead owner held, and never hand one item to two claimers."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import event

from faas.store.db import create_engine
from faas.store.work import WorkDepth, WorkStore


T0 = dt.datetime(2026, 11, 30, 10, 0, 0, 250000, tzinfo=dt.timezone.utc)
LEASE_S = 60


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


@pytest.fixture
def work(engine) -> WorkStore:
    return WorkStore(engine)


async def test_a_claim_leases_due_items_earliest_first_and_counts_an_attempt(work):
    assert await work.add("async", "late", b"3", due_at=at(2))
    assert await work.add("async", "first", b"1", due_at=at(0), created_at=at(-5))
    assert await work.add("async", "second", b"2", due_at=at(0))
    assert await work.add("async", "not-yet", b"4", due_at=at(30))

    claimed = await work.claim("async", "node-a", lease_s=LEASE_S, limit=2, now=at(5))
    assert [(i.key, i.payload, i.attempts, i.owner, i.due_at) for i in claimed] == [
        ("first", b"1", 1, "node-a", at(5 + LEASE_S)), ("second", b"2", 1, "node-a", at(5 + LEASE_S))]
    assert claimed[0].created_at == at(-5) and claimed[1].created_at == at(0)
    [late] = await work.claim("async", "node-a", lease_s=LEASE_S, limit=10, now=at(5))
    assert late.key == "late"
    # Leased items and the one not yet due are nobody else's to take.
    assert await work.claim("async", "node-b", lease_s=LEASE_S, limit=10, now=at(6)) == []
    [due_later] = await work.claim("async", "node-b", lease_s=LEASE_S, limit=10, now=at(30))
    assert (due_later.key, due_later.attempts) == ("not-yet", 1)


async def test_adding_the_same_key_twice_adds_it_once_and_kinds_are_apart(work):
    assert await work.add("async", "req-1", b"first", due_at=at(0))
    assert not await work.add("async", "req-1", b"second", due_at=at(0))
    assert await work.add("schedule", "req-1", b"other kind", due_at=at(0))

    [item] = await work.claim("async", "n", lease_s=LEASE_S, limit=10, now=at(1))
    assert (item.kind, item.payload) == ("async", b"first")
    assert await work.claim("async", "n", lease_s=LEASE_S, limit=10, now=at(1)) == []
    [other] = await work.claim("schedule", "n", lease_s=LEASE_S, limit=10, now=at(1))
    assert (other.kind, other.payload) == ("schedule", b"other kind")
    # Still held, so still there: adding it again does not queue a second copy.
    assert not await work.add("async", "req-1", b"again", due_at=at(0))


async def test_only_the_owner_renews_and_a_renewed_lease_keeps_others_out(work):
    await work.add("queue", "m", b"", due_at=at(0))
    [item] = await work.claim("queue", "a", lease_s=LEASE_S, limit=1, now=at(0))
    assert not await work.renew(item.id, "b", lease_s=LEASE_S, now=at(30))
    assert await work.renew(item.id, "a", lease_s=LEASE_S, now=at(50))  # now held until 110
    assert await work.claim("queue", "b", lease_s=LEASE_S, limit=1, now=at(100)) == []
    [again] = await work.claim("queue", "b", lease_s=LEASE_S, limit=1, now=at(110))
    assert (again.id, again.owner, again.attempts) == (item.id, "b", 2)


async def test_an_owner_that_dies_loses_its_items_when_the_lease_runs_out(work):
    """Node a claims and dies; node b takes the items once the lease is over, and node a's late
    answers (complete, release, renew) change nothing."""
    for key in ("x", "y"):
        await work.add("async", key, key.encode(), due_at=at(0))
    held = await work.claim("async", "a", lease_s=LEASE_S, limit=10, now=at(0))
    assert await work.claim("async", "b", lease_s=LEASE_S, limit=10, now=at(LEASE_S - 1)) == []
    taken = await work.claim("async", "b", lease_s=LEASE_S, limit=10, now=at(LEASE_S))
    assert [(i.key, i.owner, i.attempts) for i in taken] == [("x", "b", 2), ("y", "b", 2)]

    x, y = held
    assert not await work.complete(x.id, "a")
    assert not await work.release(y.id, "a", delay_s=0, now=at(LEASE_S + 1))
    assert not await work.renew(y.id, "a", lease_s=LEASE_S, now=at(LEASE_S + 1))
    assert await work.complete(x.id, "b")
    assert (await work.depth("async", now=at(LEASE_S + 1))).leased == 1


async def test_a_restarted_owner_hands_back_what_it_held_at_once(work):
    for key in ("x", "y", "z"):
        await work.add("async", key, b"", due_at=at(0))
    await work.claim("async", "a", lease_s=LEASE_S, limit=2, now=at(0))
    await work.claim("async", "b", lease_s=LEASE_S, limit=1, now=at(0))
    assert await work.reclaim_owner("a", now=at(10)) == 2
    again = await work.claim("async", "a", lease_s=LEASE_S, limit=10, now=at(10))
    assert [(i.key, i.attempts) for i in again] == [("x", 2), ("y", 2)]  # the cut-short runs count
    assert await work.reclaim_owner("nobody", now=at(10)) == 0


async def test_a_released_item_is_due_again_after_its_delay(work):
    await work.add("async", "retry", b"", due_at=at(0))
    [item] = await work.claim("async", "a", lease_s=LEASE_S, limit=1, now=at(0))
    assert not await work.release(item.id, "b", delay_s=0, now=at(1))  # not b's
    assert await work.release(item.id, "a", delay_s=30, now=at(1))
    assert not await work.complete(item.id, "a")  # no longer a's either
    assert await work.claim("async", "a", lease_s=LEASE_S, limit=1, now=at(30)) == []
    [second] = await work.claim("async", "b", lease_s=LEASE_S, limit=1, now=at(31))
    assert (second.attempts, second.owner) == (2, "b")

    # A throttled run never started: the attempt its claim counted is taken back.
    assert await work.release(second.id, "b", delay_s=1, now=at(32), count_attempt=False)
    [third] = await work.claim("async", "a", lease_s=LEASE_S, limit=1, now=at(33))
    assert third.attempts == 2
    assert await work.complete(third.id, "a")
    assert await work.claim("async", "a", lease_s=LEASE_S, limit=1, now=at(10_000)) == []
    assert await work.add("async", "retry", b"", due_at=at(0))  # gone: the key is free again


async def test_items_of_a_group_are_claimed_one_at_a_time_in_the_order_they_were_added(work):
    """FIFO queues' message groups: the next item of a group waits while the one before it is pending
    (leased, or released to wait for a retry); other groups and items with no group go on meanwhile."""
    for key in ("g-1", "g-2", "g-3"):
        await work.add("fifo", key, b"", due_at=at(0), group="g")
    await work.add("fifo", "h-1", b"", due_at=at(0), group="h")
    await work.add("fifo", "loose", b"", due_at=at(0))
    await work.add("other", "g-elsewhere", b"", due_at=at(0), group="g")  # groups belong to their kind

    first = await work.claim("fifo", "a", lease_s=LEASE_S, limit=10, now=at(1))
    assert [(i.key, i.group) for i in first] == [("g-1", "g"), ("h-1", "h"), ("loose", None)]
    assert await work.claim("fifo", "a", lease_s=LEASE_S, limit=10, now=at(1)) == []
    assert [i.key for i in await work.claim("other", "a", lease_s=LEASE_S, limit=10, now=at(1))] == ["g-elsewhere"]

    for item in first:
        assert await work.complete(item.id, "a")
    [g2] = await work.claim("fifo", "b", lease_s=LEASE_S, limit=10, now=at(2))
    assert g2.key == "g-2"
    assert await work.release(g2.id, "b", delay_s=10, now=at(3))  # a retry keeps its place in line
    assert await work.claim("fifo", "b", lease_s=LEASE_S, limit=10, now=at(12)) == []
    [again] = await work.claim("fifo", "b", lease_s=LEASE_S, limit=10, now=at(13))
    assert (again.key, again.attempts) == ("g-2", 2)
    # A dead owner's lease running out frees the group again, with the same item first.
    [taken_over] = await work.claim("fifo", "c", lease_s=LEASE_S, limit=10, now=at(13 + LEASE_S))
    assert (taken_over.key, taken_over.owner) == ("g-2", "c")
    assert await work.complete(taken_over.id, "c")
    [g3] = await work.claim("fifo", "c", lease_s=LEASE_S, limit=10, now=at(14 + LEASE_S))
    assert g3.key == "g-3"


async def test_depth_counts_due_delayed_and_leased_items_of_a_kind(work):
    assert await work.depth("async", now=at(0)) == WorkDepth(0, 0, 0, 0.0)
    await work.add("async", "held", b"", due_at=at(0))
    await work.claim("async", "a", lease_s=LEASE_S, limit=1, now=at(0))
    await work.add("async", "waited", b"", due_at=at(3))
    await work.add("async", "due", b"", due_at=at(8))
    await work.add("async", "delayed", b"", due_at=at(20))
    await work.add("schedule", "elsewhere", b"", due_at=at(0))
    assert await work.depth("async", now=at(10)) == WorkDepth(due=2, delayed=1, leased=1, oldest_due_s=7.0)
    # A dead owner's item counts as due once its lease ran out.
    assert await work.depth("async", now=at(LEASE_S)) == WorkDepth(due=4, delayed=0, leased=0,
                                                                    oldest_due_s=LEASE_S - 3)


async def test_the_oldest_item_of_a_kind_is_aged_from_its_first_add(work):
    assert await work.oldest_s("async", now=at(0)) == 0.0
    await work.add("async", "retried", b"", due_at=at(50), created_at=at(2))  # a retry keeps its first time
    await work.add("async", "new", b"", due_at=at(5))
    await work.add("schedule", "elsewhere", b"", due_at=at(0), created_at=at(0))
    assert await work.oldest_s("async", now=at(10)) == 8.0


async def test_a_claim_is_one_statement_whatever_it_takes(work, engine):
    for n in range(25):
        await work.add("async", f"k{n}", b"", due_at=at(0))
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", seen)
    try:
        claimed = await work.claim("async", "a", lease_s=LEASE_S, limit=20, now=at(1))
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", seen)
    assert len(claimed) == 20
    [statement] = statements
    assert statement.lstrip().upper().startswith("UPDATE")
    if engine.dialect.name == "postgresql":
        assert "FOR UPDATE SKIP LOCKED" in statement


async def test_concurrent_claimers_on_two_engines_never_take_the_same_item(database_url, work):
    """Two nodes (one engine each), eight claimers apiece, claiming small batches as fast as they can:
    every item is handed out exactly once."""
    count = 150
    for n in range(count):
        await work.add("async", f"k{n}", str(n).encode(), due_at=at(0))
    other = create_engine(database_url)
    try:
        nodes = [work, WorkStore(other)]
        claims: list[tuple[int, str]] = []

        async def claimer(store: WorkStore, owner: str) -> None:
            while batch := await store.claim("async", owner, lease_s=LEASE_S, limit=3, now=at(1)):
                claims.extend((item.id, owner) for item in batch)
                await asyncio.sleep(0)

        await asyncio.gather(*(claimer(nodes[n % 2], f"node-{n % 2}") for n in range(16)))
    finally:
        await other.dispose()
    times = Counter(item_id for item_id, _ in claims)
    assert len(times) == count and set(times.values()) == {1}
    assert await work.claim("async", "late", lease_s=LEASE_S, limit=10, now=at(1)) == []
    assert await work.depth("async", now=at(1)) == WorkDepth(due=0, delayed=0, leased=count, oldest_due_s=0.0)


async def test_concurrent_claimers_take_only_the_first_item_of_each_group(database_url, work):
    groups, per_group = 12, 4
    for n in range(per_group):
        for g in range(groups):
            await work.add("fifo", f"g{g}-{n}", b"", due_at=at(0), group=f"g{g}")
    other = create_engine(database_url)
    try:
        nodes = [work, WorkStore(other)]
        claimed: list[str] = []

        async def claimer(store: WorkStore, owner: str) -> None:
            while batch := await store.claim("fifo", owner, lease_s=LEASE_S, limit=2, now=at(1)):
                claimed.extend(item.key for item in batch)
                await asyncio.sleep(0)

        await asyncio.gather(*(claimer(nodes[n % 2], f"node-{n % 2}") for n in range(16)))
    finally:
        await other.dispose()
    assert sorted(claimed) == sorted(f"g{g}-0" for g in range(groups))


async def test_a_claim_remembers_the_first_and_skips_items_created_too_long_ago(work):
    await work.add("sqs:q", "old", b"", due_at=at(0), created_at=at(-100))
    await work.add("sqs:q", "new", b"", due_at=at(0), created_at=at(-10))
    [new] = await work.claim("sqs:q", "r1", lease_s=5, limit=10, now=at(0), created_after=at(-50))
    assert (new.key, new.first_claimed_at) == ("new", at(0))
    [again] = await work.claim("sqs:q", "r2", lease_s=5, limit=10, now=at(30), created_after=at(-50))
    assert (again.key, again.attempts, again.first_claimed_at) == ("new", 2, at(0))


async def test_expire_drops_old_items_held_or_not_and_clear_drops_a_kind(work):
    await work.add("sqs:q", "old-held", b"", due_at=at(0), created_at=at(-100))
    await work.claim("sqs:q", "r1", lease_s=600, limit=1, now=at(0))
    await work.add("sqs:q", "old", b"", due_at=at(0), created_at=at(-90))
    await work.add("sqs:q", "young", b"", due_at=at(0), created_at=at(-10))
    await work.add("sqs:other", "kept", b"", due_at=at(0), created_at=at(-100))
    assert await work.expire("sqs:q", created_before=at(-50)) == 2
    assert [item.key for item in await work.claim("sqs:q", "r2", lease_s=5, limit=10, now=at(1))] == ["young"]
    assert await work.clear("sqs:q") == 1
    assert await work.depth("sqs:q", now=at(2)) == WorkDepth(0, 0, 0, 0.0)
    assert [item.key for item in await work.claim("sqs:other", "r3", lease_s=5, limit=10, now=at(3))] == ["kept"]


async def test_add_many_and_complete_many_each_take_one_transaction(work):
    await work.add("sqs:q", "already", b"0", due_at=at(0))
    await work.add_many("sqs:q", [("already", b"again", at(0), at(0)), ("one", b"1", at(0), at(-1)),
                                  ("later", b"2", at(50), at(0))])
    claimed = await work.claim("sqs:q", "r", lease_s=60, limit=10, now=at(1))
    assert [(i.key, i.payload, i.created_at) for i in claimed] == [("already", b"0", at(0)), ("one", b"1", at(-1))]
    await work.complete_many([(claimed[0].id, "r"), (claimed[1].id, "someone-else")])
    assert await work.depth("sqs:q", now=at(2)) == WorkDepth(due=0, delayed=1, leased=1, oldest_due_s=0.0)


async def test_a_claim_of_runs_takes_a_group_in_order_up_to_its_first_item_not_due(work):
    """SQS FIFO receives: a group's first item and the due ones after it, in order, within the limit; the run
    stops at an item that is not due, and the items it took wait behind its first as one run."""
    for n in range(1, 5):
        await work.add("runs", f"g-{n}", b"", due_at=at(0), group="g")
    await work.add("runs", "g-late", b"", due_at=at(500), group="g")
    await work.add("runs", "g-after-late", b"", due_at=at(0), group="g")
    await work.add("runs", "h-1", b"", due_at=at(0), group="h")
    first = await work.claim("runs", "a", lease_s=LEASE_S, limit=3, now=at(1), runs=True)
    assert [i.key for i in first] == ["g-1", "g-2", "h-1"]  # limit 3: g's run is cut short, h still gets a turn
    assert {(i.owner, i.due_at, i.attempts) for i in first} == {("a", at(1 + LEASE_S), 1)}
    assert await work.claim("runs", "b", lease_s=LEASE_S, limit=10, now=at(2), runs=True) == []  # g in flight
    for item in first:
        assert await work.complete(item.id, "a")
    second = await work.claim("runs", "b", lease_s=LEASE_S, limit=10, now=at(3), runs=True)
    assert [i.key for i in second] == ["g-3", "g-4"]  # g-late is not due: the run stops there
    # A lease that runs out gives the same run again, in the same order.
    again = await work.claim("runs", "c", lease_s=LEASE_S, limit=10, now=at(3 + LEASE_S), runs=True)
    assert [(i.key, i.attempts) for i in again] == [("g-3", 2), ("g-4", 2)]
    for item in again:
        assert await work.complete(item.id, "c")
    late = await work.claim("runs", "c", lease_s=LEASE_S, limit=10, now=at(600), runs=True)
    assert [i.key for i in late] == ["g-late", "g-after-late"]


async def test_next_due_is_the_earliest_due_time_of_a_kind_leases_included(work):
    assert await work.next_due("async") is None
    await work.add("async", "later", b"", due_at=at(30))
    await work.add("async", "sooner", b"", due_at=at(10))
    await work.add("other", "soonest", b"", due_at=at(1))
    assert await work.next_due("async") == at(10)
    await work.claim("async", "n", lease_s=LEASE_S, limit=1, now=at(10))  # held until at(10 + LEASE_S)
    assert await work.next_due("async") == at(30)
