"""Event source mappings in SQL (faas.store.mappings) on real SQLite and real PostgreSQL: stored and read
back whole, listed by function and by source in pages, changed only at the revision the writer read, and
deleted likewise."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from faas.store.mappings import Mapping, MappingStore

T0 = dt.datetime(2026, 12, 1, 10, 0, 0, 250000, tzinfo=dt.timezone.utc)
QUEUE = "arn:aws:sqs:us-east-1:000000000000:orders"


def mapping(uuid: str, function_name: str = "fn", source_arn: str = QUEUE, **changes) -> Mapping:  # type: ignore[no-untyped-def]
    base = Mapping(uuid=uuid, function_name=function_name, source_arn=source_arn, batch_size=10, window_s=0,
                   enabled=True, response_types=(), filters=(), max_concurrency=None, state="Creating",
                   state_reason="USER_INITIATED", last_result="No records processed", revision=1,
                   last_modified=T0)
    return dataclasses.replace(base, **changes)


@pytest.fixture
def store(engine) -> MappingStore:
    return MappingStore(engine)


def uuid_of(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


async def test_a_mapping_is_stored_and_read_back_whole(store):
    full = mapping(uuid_of(1), batch_size=500, window_s=30, enabled=False,
                   response_types=("ReportBatchItemFailures",), filters=('{"body": {"a": [1]}}', '{"b": [2]}'),
                   max_concurrency=7)
    await store.add(full)
    assert await store.get(uuid_of(1)) == full
    assert (await store.get(uuid_of(1))).reports_failures
    assert await store.get(uuid_of(2)) is None


async def test_lists_filter_by_function_and_source_and_page_in_uuid_order(store):
    other = "arn:aws:sqs:us-east-1:000000000000:refunds"
    for n, (function_name, source) in enumerate([("a", QUEUE), ("b", QUEUE), ("a", other), ("a", QUEUE)], 1):
        await store.add(mapping(uuid_of(n), function_name, source))
    assert [m.uuid for m in await store.list()] == [uuid_of(n) for n in (1, 2, 3, 4)]
    assert [m.uuid for m in await store.list(function_name="a")] == [uuid_of(n) for n in (1, 3, 4)]
    assert [m.uuid for m in await store.list(source_arn=QUEUE)] == [uuid_of(n) for n in (1, 2, 4)]
    assert [m.uuid for m in await store.list(function_name="a", source_arn=QUEUE)] == [uuid_of(1), uuid_of(4)]
    first = await store.list(function_name="a", limit=2)
    rest = await store.list(function_name="a", after=first[-1].uuid, limit=2)
    assert [m.uuid for m in first + rest] == [uuid_of(n) for n in (1, 3, 4)]


async def test_a_change_applies_only_at_the_revision_it_was_made_from(store):
    await store.add(mapping(uuid_of(1)))
    read = await store.get(uuid_of(1))
    changed = await store.replace(dataclasses.replace(read, batch_size=3, state="Updating"))
    assert changed is not None and changed.revision == 2
    assert await store.get(uuid_of(1)) == changed
    # A writer that read revision 1 changes nothing now, and cannot delete what it did not see.
    assert await store.replace(dataclasses.replace(read, state="Enabled")) is None
    assert not await store.delete(uuid_of(1), revision=1)
    assert (await store.get(uuid_of(1))).state == "Updating"
    # The poller's result is no change of settings: the revision stays.
    await store.set_result(uuid_of(1), "OK")
    assert (await store.get(uuid_of(1))) == dataclasses.replace(changed, last_result="OK")
    assert await store.delete(uuid_of(1), revision=2)
    assert await store.get(uuid_of(1)) is None
