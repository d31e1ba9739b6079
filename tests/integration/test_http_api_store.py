"""HTTP APIs in SQL (faas.store.http_apis) on real SQLite and real PostgreSQL: an API with its parts stored in
one go and read back whole, route keys unique within an API (not across APIs), parts replaced and deleted, and
deleting an API deleting its parts."""

from __future__ import annotations

import datetime as dt

import pytest

from faas.store.http_apis import Duplicate, HttpApiStore, Part

T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def store(engine) -> HttpApiStore:
    return HttpApiStore(engine)


def route(route_id: str, key: str) -> Part:
    return Part("route", route_id, {"routeId": route_id, "routeKey": key}, key)


async def test_an_api_and_its_parts_are_stored_and_read_back_whole(store):
    parts = [Part("integration", "i1", {"integrationId": "i1", "payloadFormatVersion": "2.0"}),
             route("r1", "$default"), Part("stage", "$default", {"stageName": "$default", "autoDeploy": True})]
    await store.create("api1", {"apiId": "api1", "name": "one"}, parts, T0)
    found = await store.get("api1")
    assert found is not None and found.document == {"apiId": "api1", "name": "one"}
    assert sorted(found.parts, key=lambda p: p.kind) == sorted(parts, key=lambda p: p.kind)
    assert found.of("route") == [parts[1]]
    assert await store.get("nope") is None
    assert [doc["apiId"] for doc in await store.list()] == ["api1"]


async def test_route_keys_are_unique_within_an_api_only(store):
    await store.create("a", {"apiId": "a"}, [], T0)
    await store.create("b", {"apiId": "b"}, [], T0)
    await store.add_part("a", route("r1", "GET /x"), T0)
    await store.add_part("b", route("r1", "GET /x"), T0)  # another API: its own keys
    with pytest.raises(Duplicate):
        await store.add_part("a", route("r2", "GET /x"), T0)
    await store.add_part("a", route("r3", "GET /y"), T0)
    with pytest.raises(Duplicate):
        await store.replace_part("a", route("r3", "GET /x"))
    found = await store.get("a")
    assert found is not None and sorted(p.unique_key for p in found.of("route")) == ["GET /x", "GET /y"]
    # Parts without a unique key (integrations, stages) are not unique by it.
    await store.add_part("a", Part("integration", "i1", {}), T0)
    await store.add_part("a", Part("integration", "i2", {}), T0)
    await store.add_part("a", Part("stage", "prod", {}), T0)
    with pytest.raises(Duplicate):  # a stage is unique by its name, its id
        await store.add_part("a", Part("stage", "prod", {}), T0)


async def test_parts_are_replaced_and_deleted_and_go_with_their_api(store):
    await store.create("a", {"apiId": "a", "name": "x"}, [route("r1", "GET /x")], T0)
    await store.replace_part("a", Part("route", "r1", {"routeId": "r1", "routeKey": "POST /x"}, "POST /x"))
    found = await store.get("a")
    assert found is not None and found.of("route")[0].document["routeKey"] == "POST /x"
    assert await store.replace("a", {"apiId": "a", "name": "y"})
    assert not await store.replace("nope", {})
    assert await store.delete_part("a", "route", "r1")
    assert not await store.delete_part("a", "route", "r1")
    await store.add_part("a", route("r2", "GET /z"), T0)
    assert await store.delete("a")
    assert await store.get("a") is None and not await store.delete("a")
    await store.create("a", {"apiId": "a"}, [], T0)  # its id may be used again: nothing of the old one is left
    found = await store.get("a")
    assert found is not None and found.parts == ()
