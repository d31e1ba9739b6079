"""Retention against real SQLite and real PostgreSQL: old invocation records (with their logs) and audit
entries are deleted in bounded batches by the same Pruner `faas serve` runs, and newer rows stay."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from faas.model import InvocationRecord
from faas.services.retention import Pruner, Rule
from faas.store.audit import AuditEntry, AuditStore
from faas.store.invocations import InvocationStore
from faas.store.tables import audit_log, invocations


NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone.utc)


def invocation(age: dt.timedelta, function_name: str = "orders") -> InvocationRecord:
    return InvocationRecord(
        request_id=str(uuid.uuid4()), function_name=function_name, started_at=NOW - age, duration_ms=1.5,
        billed_duration_ms=100, memory_size=128, max_memory_used_mb=40, init_duration_ms=None, cold=False,
        outcome="success", error_type=None, log="START ...\nEND ...\nREPORT ...\n")


def audit(age: dt.timedelta, n: int = 0) -> AuditEntry:
    return AuditEntry(at=NOW - age, principal="arn:aws:iam::000000000000:user/admin",
                      action="lambda:CreateFunction", resource=f"arn:aws:lambda:us-east-1:000000000000:function:f{n}",
                      status=201, outcome="allowed", request_id=str(uuid.uuid4()), source_ip="127.0.0.1")


async def count(engine: AsyncEngine, table) -> int:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


async def test_prune_before_deletes_only_older_rows_at_most_a_batch_at_a_time(engine):
    store = InvocationStore(engine)
    old = [invocation(dt.timedelta(days=31, seconds=n)) for n in range(7)]
    new = [invocation(dt.timedelta(days=29)), invocation(dt.timedelta(minutes=1), "other")]
    await store.add_many(old + new)
    cutoff = NOW - dt.timedelta(days=30)
    assert await store.prune_before(cutoff, 5) == 5
    assert await store.prune_before(cutoff, 5) == 2
    assert await store.prune_before(cutoff, 5) == 0
    assert await store.recent("orders", 100) == [new[0]]
    assert await store.recent("other", 100) == [new[1]]


async def test_audit_prune_before_deletes_only_older_entries(engine):
    store = AuditStore(engine)
    await store.add_many([audit(dt.timedelta(days=100, seconds=n), n) for n in range(4)]
                         + [audit(dt.timedelta(days=10), 99)])
    cutoff = NOW - dt.timedelta(days=90)
    assert await store.prune_before(cutoff, 3) == 3
    assert await store.prune_before(cutoff, 3) == 1
    assert [entry.resource for entry in await store.query()] == [
        "arn:aws:lambda:us-east-1:000000000000:function:f99"]


async def test_the_pruner_empties_both_tables_of_old_rows_in_batches(engine):
    invocation_store, audit_store = InvocationStore(engine), AuditStore(engine)
    await invocation_store.add_many([invocation(dt.timedelta(days=40, seconds=n)) for n in range(25)]
                                    + [invocation(dt.timedelta(hours=1))])
    await audit_store.add_many([audit(dt.timedelta(days=91, seconds=n), n) for n in range(12)]
                               + [audit(dt.timedelta(days=89), 100)])
    pruner = Pruner([Rule("invocation records", invocation_store, 30), Rule("audit entries", audit_store, 90)],
                    batch=10, pause_s=0)
    assert await pruner.prune(NOW) == {"invocation records": 25, "audit entries": 12}
    assert await count(engine, invocations) == 1 and await count(engine, audit_log) == 1
    assert await pruner.prune(NOW) == {"invocation records": 0, "audit entries": 0}
