"""The SQL store (faas.store.functions, invocations, keys) against real SQLite and real PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import uuid

import pytest

from faas.errors import ResourceConflict, ResourceNotFound
from faas.model import AccessKey, Function, InvocationRecord
from faas.store.functions import FunctionStore
from faas.store.invocations import InvocationStore
from faas.store.identities import IdentityStore

T0 = dt.datetime(2026, 11, 27, 10, 0, 0, 123456, tzinfo=dt.timezone.utc)


@pytest.fixture
def functions(engine) -> FunctionStore:
    return FunctionStore(engine)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def function(name: str, code: bytes | None = b"zip-1", **changes) -> Function:
    fn = Function(
        name=name, runtime="python3.13", handler="app.handler", role="arn:aws:iam::123456789012:role/r",
        description="orders", memory_size=256, timeout=30, ephemeral_storage=1024,
        # The store keeps only the sealed form of the variables; the service decrypts them.
        environment={}, env_ciphertext=b"fe1:\x00sealed-variables\xff", data_key=b"fk1:mk-1:wrapped-key",
        package_type="Zip",
        code_sha256=sha(code) if code is not None else None, code_size=len(code) if code is not None else 0,
        image_uri=None, image_config={}, revision_id=str(uuid.uuid4()), last_modified=T0,
    )
    return fn.replace(**changes)


# -- functions ------------------------------------------------------------------------------------


async def test_plaintext_variables_from_before_encryption_are_found_and_sealed(engine, functions):
    from sqlalchemy import update

    from faas.store.tables import functions as table

    await functions.create(function("legacy"), b"zip-1")
    async with engine.begin() as conn:  # as a release before encryption left it
        await conn.execute(update(table).values(environment='{"OLD": "plain"}', env_ciphertext=None, data_key=None))
    legacy = await functions.plaintext_environments()
    assert [(fn.name, fn.environment) for fn in legacy] == [("legacy", {"OLD": "plain"})]
    await functions.seal_environment("legacy", b"sealed", b"key")
    assert await functions.plaintext_environments() == []
    stored = await functions.get("legacy")
    assert (stored.environment, stored.env_ciphertext, stored.data_key) == ({}, b"sealed", b"key")


async def test_create_and_get_round_trip(functions):
    fn = function("orders")
    await functions.create(fn, b"zip-1")
    stored = await functions.get("orders")
    assert stored == fn
    assert stored.last_modified.tzinfo is not None
    assert stored.last_modified == T0
    assert await functions.code(fn.code_sha256) == b"zip-1"


async def test_image_function_round_trip(functions):
    fn = function("img", code=None, runtime=None, handler=None, package_type="Image", image_uri="my-image:1",
                  image_config={"Command": ["app.handler"], "EntryPoint": ["/entry"]})
    await functions.create(fn, None)
    assert await functions.get("img") == fn
    assert await functions.blob_count() == 0


async def test_logging_config_round_trips_beside_the_image_config(functions):
    logging = {"LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "INFO"}
    fn = function("img-json", code=None, runtime=None, handler=None, package_type="Image", image_uri="my-image:1",
                  image_config={"Command": ["app.handler"]}, logging_config=logging)
    await functions.create(fn, None)
    assert await functions.get("img-json") == fn  # neither leaks into the other
    zipped = function("zip-json", logging_config=logging)
    await functions.create(zipped, b"zip-1")
    assert await functions.get("zip-json") == zipped


async def test_get_of_a_missing_function_is_none(functions):
    assert await functions.get("nope") is None


async def test_list_pages_in_name_order(functions):
    for name in ("delta", "alpha", "echo", "charlie", "bravo"):
        await functions.create(function(name), b"zip-1")
    first = await functions.list(None, 2)
    assert [f.name for f in first] == ["alpha", "bravo"]
    second = await functions.list("bravo", 2)
    assert [f.name for f in second] == ["charlie", "delta"]
    assert [f.name for f in await functions.list("delta", 2)] == ["echo"]
    assert await functions.list("echo", 2) == []
    assert [f.name for f in await functions.list(None, 50)] == ["alpha", "bravo", "charlie", "delta", "echo"]
    assert (await functions.list(None, 1))[0] == await functions.get("alpha")


async def test_walking_all_pages_sees_every_function_once(functions):
    names = ["B", "a", "a-1", "a_1", "A", "z9", "0", "Zed", "_x", "-y", "ab", "a1"]
    for name in names:
        await functions.create(function(name), b"zip-1")
    seen, marker = [], None
    while True:
        page = await functions.list(marker, 3)
        if not page:
            break
        seen += [f.name for f in page]
        marker = page[-1].name
    assert sorted(seen) == sorted(names)


async def test_replace_with_the_expected_revision(functions):
    fn = function("orders")
    await functions.create(fn, b"zip-1")
    new = fn.replace(timeout=60, revision_id=str(uuid.uuid4()), env_ciphertext=b"fe1:other",
                     last_modified=T0 + dt.timedelta(seconds=5))
    await functions.replace(new, None, fn.revision_id)
    assert await functions.get("orders") == new


async def test_replace_conflicts_when_the_revision_moved(functions):
    fn = function("orders")
    await functions.create(fn, b"zip-1")
    moved = fn.replace(timeout=60, revision_id=str(uuid.uuid4()))
    await functions.replace(moved, None, fn.revision_id)
    late = fn.replace(timeout=5, revision_id=str(uuid.uuid4()))
    with pytest.raises(ResourceConflict):
        await functions.replace(late, b"zip-2", fn.revision_id)
    assert await functions.get("orders") == moved
    assert await functions.blob_count() == 1  # the late writer's code was not kept


async def test_replace_of_a_deleted_function_is_not_found(functions):
    fn = function("orders")
    await functions.create(fn, b"zip-1")
    await functions.delete("orders")
    with pytest.raises(ResourceNotFound):
        await functions.replace(fn.replace(revision_id=str(uuid.uuid4())), None, fn.revision_id)
    assert await functions.get("orders") is None


async def test_delete(functions):
    await functions.create(function("orders"), b"zip-1")
    await functions.create(function("users"), b"zip-1")
    await functions.delete("orders")
    assert await functions.get("orders") is None
    assert [f.name for f in await functions.list(None, 10)] == ["users"]
    with pytest.raises(ResourceNotFound):
        await functions.delete("orders")


async def test_code_is_stored_once_per_hash_and_dropped_when_unused(functions):
    await functions.create(function("a", b"zip-1"), b"zip-1")
    await functions.create(function("b", b"zip-1"), b"zip-1")
    await functions.create(function("c", b"zip-2"), b"zip-2")
    assert await functions.blob_count() == 2
    await functions.delete("a")
    assert await functions.blob_count() == 2
    assert await functions.code(sha(b"zip-1")) == b"zip-1"
    await functions.delete("b")
    assert await functions.blob_count() == 1
    with pytest.raises(ResourceNotFound):
        await functions.code(sha(b"zip-1"))
    assert await functions.code(sha(b"zip-2")) == b"zip-2"


async def test_new_code_replaces_the_old_blob(functions):
    fn = function("a", b"zip-1")
    await functions.create(fn, b"zip-1")
    new = function("a", b"zip-2", revision_id=str(uuid.uuid4()))
    await functions.replace(new, b"zip-2", fn.revision_id)
    assert await functions.blob_count() == 1
    assert await functions.code(sha(b"zip-2")) == b"zip-2"
    with pytest.raises(ResourceNotFound):
        await functions.code(sha(b"zip-1"))


async def test_large_code_round_trips(functions):
    data = os.urandom(3 * 1024 * 1024)
    await functions.create(function("big", data), data)
    assert await functions.code(sha(data)) == data


async def test_duplicate_create_conflicts_and_keeps_the_original(functions):
    original = function("orders", b"zip-1")
    await functions.create(original, b"zip-1")
    with pytest.raises(ResourceConflict, match="orders"):
        await functions.create(function("orders", b"zip-2", timeout=1), b"zip-2")
    assert await functions.get("orders") == original
    assert await functions.blob_count() == 1
    assert await functions.code(sha(b"zip-1")) == b"zip-1"


async def test_concurrent_creates_with_the_same_code_both_succeed(functions):
    await functions.create(function("warm-up", b"other"), b"other")  # open the pool's connections
    for round_ in range(5):
        code = f"shared zip {round_}".encode()
        results = await asyncio.gather(functions.create(function(f"a{round_}", code), code),
                                       functions.create(function(f"b{round_}", code), code),
                                       return_exceptions=True)
        assert results == [None, None]
        assert await functions.code(sha(code)) == code


async def test_code_survives_deleting_its_last_user_while_another_function_is_created_with_it(functions):
    for round_ in range(5):
        code = f"shared zip {round_}".encode()
        await functions.create(function(f"old{round_}", code), code)
        await asyncio.gather(functions.delete(f"old{round_}"), functions.create(function(f"new{round_}", code), code))
        assert await functions.code(sha(code)) == code


# -- invocation records ---------------------------------------------------------------------------


def record(function_name: str, started_at: dt.datetime, **changes) -> InvocationRecord:
    values = dict(
        request_id=str(uuid.uuid4()), function_name=function_name, started_at=started_at, duration_ms=12.5,
        billed_duration_ms=100, memory_size=128, max_memory_used_mb=40, init_duration_ms=None, cold=False,
        outcome="success", error_type=None, log="START ...\nEND ...\nREPORT ...\n",
    )
    values.update(changes)
    return InvocationRecord(**values)


async def test_invocation_records_newest_n_oldest_first(engine):
    store = InvocationStore(engine)
    records = [record("orders", T0 + dt.timedelta(seconds=i)) for i in range(6)]
    shuffled = [records[i] for i in (3, 0, 5, 1, 4, 2)]
    await store.add_many(shuffled[:3])
    await store.add_many(shuffled[3:] + [record("other", T0 + dt.timedelta(hours=1))])
    recent = await store.recent("orders", 4)
    assert recent == records[2:]
    assert all(r.started_at.tzinfo is not None for r in recent)
    assert await store.recent("orders", 100) == records
    assert await store.recent("nobody", 10) == []


async def test_invocation_records_since_a_time_newest_n_oldest_first(engine):
    """What the console's charts read: a function's records after a time, at most the newest n."""
    store = InvocationStore(engine)
    records = [record("orders", T0 + dt.timedelta(seconds=i), log_stream="2026/12/01/[$LATEST]abc") for i in range(6)]
    await store.add_many([records[i] for i in (4, 1, 5, 0, 3, 2)] + [record("other", T0 + dt.timedelta(seconds=3))])
    assert await store.since("orders", T0 + dt.timedelta(seconds=1), 100) == records[2:]
    assert await store.since("orders", T0 - dt.timedelta(seconds=1), 2) == records[4:]
    assert await store.since("orders", T0 + dt.timedelta(seconds=5), 100) == []


async def test_invocation_records_keep_every_field(engine):
    store = InvocationStore(engine)
    cold = record("orders", T0, init_duration_ms=250.25, cold=True, outcome="error", error_type="Runtime.ExitError",
                  duration_ms=1234.56, billed_duration_ms=1300, memory_size=1024, max_memory_used_mb=1023,
                  log="é" * 10_000)
    await store.add_many([cold])
    assert await store.recent("orders", 1) == [cold]


async def test_adding_no_records_is_a_no_op(engine):
    store = InvocationStore(engine)
    await store.add_many([])
    assert await store.recent("orders", 10) == []


# -- access keys ----------------------------------------------------------------------------------


async def test_access_keys_by_principal_oldest_first(engine):
    store = IdentityStore(engine)
    for principal in ("admin", "ci"):
        await store.add_principal(principal, "user")
    newer = AccessKey("AKIANEWER", "admin", b"\x00sealed\xff" * 4, True, T0 + dt.timedelta(minutes=1))
    older = AccessKey("AKIAOLDER", "admin", b"sealed-2", False, T0)
    other = AccessKey("AKIAOTHER", "ci", b"sealed-3", True, T0)
    for key in (newer, other, older):
        await store.add_key(key)
    assert await store.keys("admin") == [older, newer]
    assert await store.keys("ci") == [other]
    assert await store.keys("nobody") == []
    assert all(k.created_at.tzinfo is not None for k in await store.keys("admin"))
    assert await store.key("AKIAOLDER") == older
    await store.set_key_enabled("AKIAOLDER", True)
    assert (await store.key("AKIAOLDER")).enabled
    await store.delete_principal("ci")
    assert await store.key("AKIAOTHER") is None


# -- tags and architecture --------------------------------------------------------------------------


async def test_tags_are_created_overwritten_removed_and_deleted_with_their_function(functions):
    def at_most_three(count: int) -> None:
        if count > 3:
            raise ValueError(count)

    await functions.create(function("tagged", architecture="arm64"), b"zip-1", {"team": "a", "env": "prod"})
    assert (await functions.get("tagged")).architecture == "arm64"
    assert await functions.tags("tagged") == {"env": "prod", "team": "a"}
    await functions.tag("tagged", {"env": "dev", "owner": "ana"}, at_most_three)
    await functions.tag("tagged", {}, at_most_three)
    assert await functions.tags("tagged") == {"env": "dev", "owner": "ana", "team": "a"}
    with pytest.raises(ValueError):  # the count is checked with the tags already there, and nothing changes
        await functions.tag("tagged", {"more": "x"}, at_most_three)
    await functions.untag("tagged", ["team", "absent"])
    assert await functions.tags("tagged") == {"env": "dev", "owner": "ana"}

    await functions.delete("tagged")
    assert await functions.tags("tagged") is None
    with pytest.raises(ResourceNotFound):
        await functions.tag("tagged", {"a": "b"}, at_most_three)
    with pytest.raises(ResourceNotFound):
        await functions.untag("tagged", ["a"])
    await functions.create(function("tagged"), b"zip-1")
    assert await functions.tags("tagged") == {}
    assert (await functions.get("tagged")).architecture == "x86_64"
