"""Asynchronous destinations need the source function's execution role to allow invoking them: checked
when they are configured (faas.services.event_configs) and at every delivery (faas.sources.async_events),
by pure policy evaluation over the role's cached documents (faas.services.destinations)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest

from faas.sources.async_events import AsyncEvent, AsyncInvoker, decode_event
from faas.dispatch.invoker import Result
from faas.errors import InvalidParameterValue
from faas.model import Function, utcnow
from faas.security import policy
from faas.services.destinations import DestinationPermissions
from faas.services.event_configs import EventConfigService
from faas.services.identities import IdentityService
from faas.store.event_configs import EventInvokeConfig
from faas.store.work import WorkItem

ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/app-a-role"


def arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"


def allow(resource: str, effect: str = "Allow") -> dict:
    return policy.parse_document({"Statement": [{"Effect": effect, "Action": "lambda:InvokeFunction",
                                                 "Resource": resource}]})


class FakeIdentityStore:
    """The two reads and writes role_documents depends on, counting reads."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, str]] = {}
        self.reads = 0

    async def policies(self, owner_kind: str, owner: str) -> dict[str, str]:
        assert owner_kind == "role"
        self.reads += 1
        return dict(self.documents.get(owner, {}))

    async def put_policy(self, owner_kind: str, owner: str, name: str, document: str) -> None:
        self.documents.setdefault(owner, {})[name] = document

    async def delete_policy(self, owner_kind: str, owner: str, name: str) -> None:
        self.documents.get(owner, {}).pop(name, None)


class FakePermissions:
    def __init__(self, statements: dict[str, tuple[dict, ...]] | None = None) -> None:
        self._statements = statements or {}

    async def statements(self, name: str) -> tuple[dict, ...]:
        return self._statements.get(name, ())


def checker(role_policies: dict[str, list[dict]] | None = None,
            statements: dict[str, tuple[dict, ...]] | None = None) -> DestinationPermissions:
    store = FakeIdentityStore()
    for role, documents in (role_policies or {}).items():
        store.documents[role] = {f"p{i}": json.dumps(d) for i, d in enumerate(documents)}
    identities = IdentityService(store, master=None, account_id=ACCOUNT)  # type: ignore[arg-type]
    return DestinationPermissions(identities, FakePermissions(statements), arn)  # type: ignore[arg-type]


# --- the decision ------------------------------------------------------------------------------------


async def test_the_role_policy_decides() -> None:
    check = checker({"app-a-role": [allow(arn("sink-*"))]})
    assert await check.may_invoke(ROLE, "app-a", "sink-1")
    assert not await check.may_invoke(ROLE, "app-a", "billing-admin")


async def test_an_explicit_deny_wins() -> None:
    check = checker({"app-a-role": [allow("*"), allow(arn("billing-*"), "Deny")]})
    assert await check.may_invoke(ROLE, "app-a", "sink")
    assert not await check.may_invoke(ROLE, "app-a", "billing-admin")


async def test_a_role_allowed_nothing_may_invoke_nothing() -> None:
    check = checker({"app-a-role": []})
    assert not await check.may_invoke(ROLE, "app-a", "sink")


@pytest.mark.parametrize("role", [
    "arn:aws:iam::111111111111:role/app-a-role",  # another account's role, even of the same name
    "not-a-role-arn",
])
async def test_a_role_of_no_account_here_may_invoke_nothing(role: str) -> None:
    check = checker({"app-a-role": [allow("*")]})
    assert not await check.may_invoke(role, "app-a", "sink")


async def test_the_destinations_function_policy_may_allow_the_role() -> None:
    granted = policy.function_statement(sid="from-app-a", action="lambda:InvokeFunction", principal=ROLE,
                                        resource=arn("sink"))
    check = checker({"app-a-role": []}, {"sink": (granted,)})
    assert await check.may_invoke(ROLE, "app-a", "sink")
    assert not await check.may_invoke(ROLE, "app-a", "other")
    other_role = f"arn:aws:iam::{ACCOUNT}:role/someone-else"
    assert not await check.may_invoke(other_role, "app-a", "sink")


async def test_the_role_policy_deny_beats_a_function_policy_allow() -> None:
    granted = policy.function_statement(sid="from-app-a", action="lambda:InvokeFunction", principal=ROLE,
                                        resource=arn("sink"))
    check = checker({"app-a-role": [allow(arn("sink"), "Deny")]}, {"sink": (granted,)})
    assert not await check.may_invoke(ROLE, "app-a", "sink")


async def test_role_documents_are_cached_and_forgotten_when_the_role_policies_change() -> None:
    store = FakeIdentityStore()
    identities = IdentityService(store, master=None, account_id=ACCOUNT)  # type: ignore[arg-type]
    check = DestinationPermissions(identities, FakePermissions(), arn)  # type: ignore[arg-type]
    await identities.put_policy("role", "app-a-role", "sink", allow(arn("sink")))
    assert await check.may_invoke(ROLE, "app-a", "sink")
    reads = store.reads
    for _ in range(5):
        assert await check.may_invoke(ROLE, "app-a", "sink")
    assert store.reads == reads  # pure evaluation over the cached documents, no store read per check

    await identities.delete_policy("role", "app-a-role", "sink")
    assert not await check.may_invoke(ROLE, "app-a", "sink")  # at once, not after the cache expires


# --- configuration time --------------------------------------------------------------------------------


class FakeEventStore:
    def __init__(self) -> None:
        self.configs: dict[str, EventInvokeConfig] = {}

    async def config(self, function_name: str) -> EventInvokeConfig | None:
        return self.configs.get(function_name)

    async def put_config(self, config: EventInvokeConfig) -> None:
        self.configs[config.function_name] = config


class FakeWork:
    """The leased work the asynchronous invoker adds and completes."""

    def __init__(self) -> None:
        self.events: list[AsyncEvent] = []  # added, as the invoker will read them back
        self.finished: list[tuple[int, str]] = []

    async def add(self, kind: str, key: str, payload: bytes, *, due_at: dt.datetime,
                  created_at: dt.datetime | None = None) -> bool:
        assert kind == "async"
        self.events.append(decode_event(WorkItem(len(self.events) + 100, kind, key, None, payload, created_at or due_at,
                                                 due_at, 0, None)))
        return True

    async def complete(self, item_id: int, owner: str) -> bool:
        self.finished.append((item_id, owner))
        return True


def config_service(allowed: set[str]) -> tuple[EventConfigService, FakeEventStore, list[tuple[str, str, str]]]:
    asked: list[tuple[str, str, str]] = []

    async def may_invoke(role: str, source: str, destination: str) -> bool:
        asked.append((role, source, destination))
        return destination in allowed

    store = FakeEventStore()
    return EventConfigService(store, arn, may_invoke), store, asked  # type: ignore[arg-type]


async def test_a_destination_the_role_may_invoke_is_stored() -> None:
    service, store, asked = config_service({"sink"})
    config = await service.put("app-a", ROLE, {"DestinationConfig": {"OnSuccess": {"Destination": arn("sink")},
                                                                     "OnFailure": {"Destination": arn("sink") + ":$LATEST"}}},
                               merge=False)
    assert (config.on_success, config.on_failure) == (arn("sink"), arn("sink") + ":$LATEST")
    assert store.configs["app-a"] == config
    assert asked == [(ROLE, "app-a", "sink"), (ROLE, "app-a", "sink")]


@pytest.mark.parametrize("merge", [False, True])
async def test_a_destination_the_role_may_not_invoke_is_refused_and_nothing_changes(merge: bool) -> None:
    service, store, _ = config_service({"sink"})
    before = await service.put("app-a", ROLE, {"MaximumRetryAttempts": 1,
                                               "DestinationConfig": {"OnFailure": {"Destination": arn("sink")}}},
                               merge=False)
    with pytest.raises(InvalidParameterValue) as refused:
        await service.put("app-a", ROLE, {"MaximumRetryAttempts": 0, "DestinationConfig": {
            "OnSuccess": {"Destination": arn("billing-admin")}}}, merge=merge)
    assert "does not have permissions to call InvokeFunction" in refused.value.message
    assert arn("billing-admin") in refused.value.message and ROLE in refused.value.message
    assert store.configs["app-a"] == before


async def test_only_the_destinations_a_request_names_are_checked() -> None:
    service, store, asked = config_service({"sink"})
    await service.put("app-a", ROLE, {"DestinationConfig": {"OnFailure": {"Destination": arn("sink")}}},
                      merge=False)
    asked.clear()
    # The right was revoked since: an update of other fields still works; delivery checks again.
    service._may_invoke = _never  # type: ignore[method-assign]
    updated = await service.put("app-a", ROLE, {"MaximumRetryAttempts": 0}, merge=True)
    assert (updated.maximum_retry_attempts, updated.on_failure) == (0, arn("sink"))
    removed = await service.put("app-a", ROLE, {"DestinationConfig": {"OnFailure": {"Destination": ""}}},
                                merge=True)
    assert removed.on_failure is None


async def _never(role: str, source: str, destination: str) -> bool:
    return False


@pytest.mark.parametrize("destination", [
    "arn:aws:lambda:eu-west-1:000000000000:function:sink",
    "arn:aws:lambda:us-east-1:111111111111:function:sink",
])
async def test_a_destination_outside_this_region_and_account_is_refused(destination: str) -> None:
    service, store, _ = config_service({"sink"})
    with pytest.raises(InvalidParameterValue, match="outside this platform"):
        await service.put("app-a", ROLE, {"DestinationConfig": {"OnSuccess": {"Destination": destination}}},
                          merge=False)
    assert store.configs == {}


# --- delivery time -------------------------------------------------------------------------------------


class FakeFunctions:
    def __init__(self, fn: Function) -> None:
        self.fn = fn

    async def get(self, name: str) -> Function:
        assert name == self.fn.name
        return self.fn


class FakeInvoker:
    def __init__(self, result: Result) -> None:
        self.result = result
        self.invoked: list[str] = []

    async def invoke(self, fn: Function, payload: bytes, request_id: str | None = None) -> Result:
        self.invoked.append(fn.name)
        return self.result


class FakeAudit:
    def __init__(self) -> None:
        self.entries: list[Any] = []

    def add(self, record: Any) -> None:
        self.entries.append(record)


def function(name: str) -> Function:
    return Function(name=name, runtime="python3.13", handler="app.handler", role=ROLE, description="",
                    memory_size=128, timeout=3, ephemeral_storage=512, environment={}, package_type="Zip",
                    code_sha256="0" * 64, code_size=1, image_uri=None, image_config={}, revision_id="r",
                    last_modified=utcnow())


async def deliver(allowed: bool, function_error: str | None) -> tuple[FakeWork, FakeAudit, list]:
    asked: list[tuple[str, str, str]] = []

    async def may_invoke(role: str, source: str, destination: str) -> bool:
        asked.append((role, source, destination))
        return allowed

    store = FakeEventStore()
    store.configs["app-a"] = EventInvokeConfig("app-a", 0, 3600, arn("sink"), arn("billing-admin"), utcnow())
    configs = EventConfigService(store, arn, may_invoke)  # type: ignore[arg-type]
    audit = FakeAudit()
    work = FakeWork()
    invoker = AsyncInvoker(work, configs, FakeFunctions(function("app-a")),  # type: ignore[arg-type]
                           FakeInvoker(Result("req-1", b'{"ok": true}', function_error, "")),  # type: ignore[arg-type]
                           node_id="n", function_arn=arn, retry_base_s=1, may_invoke=may_invoke, audit=audit)
    now = utcnow()
    await invoker._attempt(AsyncEvent("req-1", "app-a", b"{}", now - dt.timedelta(seconds=1), 1, 7))
    assert work.finished == [(7, "n")]  # the source event is over either way
    return work, audit, asked


async def test_an_allowed_delivery_is_queued_for_the_destination() -> None:
    work, audit, asked = await deliver(True, None)
    assert asked == [(ROLE, "app-a", "sink")]
    [record] = work.events
    assert record.function_name == "sink"
    assert json.loads(record.payload)["requestContext"]["condition"] == "Success"
    assert audit.entries == []


@pytest.mark.parametrize("function_error, destination", [(None, "sink"), ("Unhandled", "billing-admin")])
async def test_a_delivery_the_role_may_no_longer_make_is_dropped_and_audited(
        function_error: str | None, destination: str, caplog: pytest.LogCaptureFixture) -> None:
    work, audit, asked = await deliver(False, function_error)
    assert asked == [(ROLE, "app-a", destination)]
    assert work.events == []  # never performed
    [entry] = audit.entries
    assert dataclasses.asdict(entry) | {"at": None} == {
        "at": None, "principal": ROLE, "action": "lambda:InvokeFunction", "resource": arn(destination),
        "status": 403, "outcome": "denied", "request_id": "req-1", "source_ip": ""}
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert "dropped" in warning.getMessage() and destination in warning.getMessage()
